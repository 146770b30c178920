package dev.periscope.vmi.driver.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.memory.RamLayout;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Layouts from QEMU 10.0.2's own "info mtree -f" and "info ramblock" (resources next to this class): lab VMs of
 * 512 MiB and 4 GiB before their firmware ran (the BIOS still shadows 0xc0000-0xfffff), and a booted 4 GiB
 * libvirt domain (q35: 2 GiB at 0, 2 GiB from 4 GiB).
 */
class QemuRamLayoutTest {

    private static final long GIB = 1L << 30;

    @Test
    void aSmallLabVmIsItsFileFromAddressZeroExceptWhereTheBiosShadowsIt() {
        RamLayout layout = parse("lab-512m-unbooted", Map.of("mem", 512L << 20), 512L << 20);
        assertThat(layout.ranges()).containsExactly(new RamLayout.Range(0, 0xc0000, "mem", 0),
                new RamLayout.Range(0x100000, (512L << 20) - 0x100000, "mem", 0x100000));
        assertThat(layout.block("mem").orElseThrow().hostAddress()).isPositive();
        assertThat(layout.limit()).isEqualTo(512L << 20);
    }

    @Test
    void aBootedFourGibGuestIsSplitAroundTheHoleBelowFourGib() {
        RamLayout layout = parse("libvirt-4g-booted", Map.of("pc.ram", 4 * GIB), 4 * GIB);
        assertThat(layout.ranges()).containsExactly(new RamLayout.Range(0, 2 * GIB, "pc.ram", 0),
                new RamLayout.Range(4 * GIB, 2 * GIB, "pc.ram", 2 * GIB));
        assertThat(layout.block("pc.ram").orElseThrow().hostAddress()).isEqualTo(0x7f8127e00000L);
        assertThat(layout.limit()).isEqualTo(6 * GIB);
        assertThat(layout.mappedBytes()).isEqualTo(4 * GIB);
        RamLayout lab = parse("lab-4g-unbooted", Map.of("mem", 4 * GIB), 4 * GIB);
        assertThat(lab.ranges().getLast()).isEqualTo(new RamLayout.Range(4 * GIB, 2 * GIB, "mem", 2 * GIB));
    }

    @Test
    void aLayoutThatDoesNotAccountForTheVmsMemoryIsRefused() {
        assertThatThrownBy(() -> parse("libvirt-4g-booted", Map.of("pc.ram", 4 * GIB), 6 * GIB))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("hold 4096 MiB")
                .hasMessageContaining("6144 MiB");
        assertThatThrownBy(() -> parse("libvirt-4g-booted", Map.of("pc.ram", 2 * GIB), 2 * GIB))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("its backend");
        assertThatThrownBy(() -> parse("libvirt-4g-booted", Map.of("dimm0", GIB), GIB))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("no RAM block");
        String ramBlocks = text("libvirt-4g-booted.ramblock.txt");
        assertThatThrownBy(() -> QemuRamLayout.parse("FlatView #0\n AS \"io\", root: io\n", ramBlocks,
                Map.of("pc.ram", 4 * GIB), 4 * GIB, "vm")).isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("no flat view");
        String halfMapped = text("libvirt-4g-booted.mtree.txt")
                .replace("0000000100000000-000000017fffffff (prio 0, ram): pc.ram", "# unplugged");
        assertThatThrownBy(() -> QemuRamLayout.parse(halfMapped, ramBlocks, Map.of("pc.ram", 4 * GIB), 4 * GIB, "vm"))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("only 2048 MiB");
    }

    @Test
    void blocksNamedByTheirQomPathBelongToTheirBackend() {
        String ramBlocks = text("libvirt-4g-booted.ramblock.txt").replace("          pc.ram", "/objects/pc.ram");
        String flat = text("libvirt-4g-booted.mtree.txt").replace("): pc.ram", "): /objects/pc.ram");
        RamLayout layout = QemuRamLayout.parse(flat, ramBlocks, Map.of("pc.ram", 4 * GIB), 4 * GIB, "vm");
        assertThat(layout.ramBytes()).isEqualTo(4 * GIB);
        assertThat(layout.ranges()).hasSize(2);
    }

    private static RamLayout parse(String name, Map<String, Long> backends, long expected) {
        return QemuRamLayout.parse(text(name + ".mtree.txt"), text(name + ".ramblock.txt"), backends, expected, name);
    }

    private static String text(String resource) {
        try (InputStream in = QemuRamLayoutTest.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("missing test resource " + resource, e);
        }
    }
}
