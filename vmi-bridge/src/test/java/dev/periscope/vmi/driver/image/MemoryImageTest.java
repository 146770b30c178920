package dev.periscope.vmi.driver.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.DomainInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image files without a VM: ELF cores built here byte by byte as QEMU lays them out (segments, a "QEMU" register
 * note), raw files, and hostile files of every kind, each refused with the reason and nothing mapped. The real
 * dumps of a running guest are {@link ImageLabTest}'s.
 */
class MemoryImageTest {

    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    /** One PT_LOAD (or PT_NOTE when {@code note}): guest physical {@code physical}, {@code data} in the file. */
    private record Segment(boolean note, long physical, byte[] data) {
    }

    /** An x86-64 ELF core holding {@code segments}, their data after the headers, page-aligned. */
    private Path elf(String name, List<Segment> segments) throws IOException {
        int headers = 64 + 56 * segments.size();
        long offset = (headers + PAGE - 1) / PAGE * PAGE;
        List<Long> offsets = new ArrayList<>();
        for (Segment s : segments) {
            offsets.add(offset);
            offset += (s.data().length + PAGE - 1) / PAGE * PAGE;
        }
        ByteBuffer b = ByteBuffer.allocate((int) offset).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 4).putShort(18, (short) 62).putLong(0x20, 64).putShort(0x34, (short) 64)
                .putShort(0x36, (short) 56).putShort(0x38, (short) segments.size());
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            int at = 64 + 56 * i;
            b.putInt(at, s.note() ? 4 : 1).putLong(at + 8, offsets.get(i)).putLong(at + 24, s.physical())
                    .putLong(at + 32, s.data().length).putLong(at + 40, s.data().length);
            b.put(offsets.get(i).intValue(), s.data());
        }
        return Files.write(dir.resolve(name), b.array());
    }

    private static byte[] page(int fill, int pages) {
        byte[] data = new byte[pages * PAGE];
        Arrays.fill(data, (byte) fill);
        return data;
    }

    /** A "QEMU" note holding a QEMUCPUState of {@code size} bytes with the given RIP and CR3. */
    private static byte[] qemuNote(long rip, long cr3) {
        int state = 8 + 18 * 8 + 10 * 24 + 5 * 8 + 8;
        ByteBuffer b = ByteBuffer.allocate(12 + 8 + state).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(5).putInt(state).putInt(0).put("QEMU\0\0\0\0".getBytes(StandardCharsets.US_ASCII));
        int d = 20;
        b.putInt(d, 1).putInt(d + 4, state).putLong(d + 8 + 16 * 8, rip).putLong(d + 8 + 18 * 8 + 10 * 24 + 3 * 8, cr3);
        return b.array();
    }

    @Test
    void anElfCoresSegmentsSitAtTheirGuestPhysicalAddresses() throws IOException {
        Path core = elf("guest.elf", List.of(new Segment(true, 0, qemuNote(0xffffffff81000000L, 0x1234000)),
                new Segment(false, 0, page(0x11, 2)), new Segment(false, 0x100000, page(0x22, 1))));
        try (MemoryImage image = MemoryImage.open(core)) {
            assertThat(image.format()).isEqualTo(ImageFormat.ELF_CORE);
            assertThat(image.layout().ranges()).hasSize(2);
            assertThat(image.memory().readByte(0x1fff)).isEqualTo((byte) 0x11);
            assertThat(image.memory().readByte(0x100000)).isEqualTo((byte) 0x22);
            assertThat(image.registers()).singleElement().satisfies(r -> {
                assertThat(r.cr3()).isEqualTo(0x1234000);
                assertThat(r.rip()).isEqualTo(0xffffffff81000000L);
            });
            assertThat(image.describe()).contains("ELF core", "registers of 1 vCPU");
        }
    }

    @Test
    void aRawFileIsGuestRamFromZero() throws IOException {
        Path raw = Files.write(dir.resolve("ram.raw"), page(0x33, 4));
        try (MemoryImage image = MemoryImage.open(raw, RawLayout.FLAT)) {
            assertThat(image.format()).isEqualTo(ImageFormat.RAW);
            assertThat(image.memory().readByte(3 * PAGE + 5)).isEqualTo((byte) 0x33);
            assertThat(image.registers()).isEmpty();
        }
    }

    @Test
    void hostileFilesAreRefusedWithTheReason() throws IOException {
        refused(Files.write(dir.resolve("empty"), new byte[0]), "not a whole number of 4 KiB pages");
        refused(Files.write(dir.resolve("odd"), new byte[PAGE + 1]), "not a whole number of 4 KiB pages");
        refused(Files.write(dir.resolve("kdump"), "KDUMP   xxxxxxxx".getBytes(StandardCharsets.US_ASCII)),
                "kdump-compressed");
        refused(Files.write(dir.resolve("qevm"), "QEVM\0\0\0\3garbage".getBytes(StandardCharsets.US_ASCII)),
                "snapshot file");
        byte[] elf32 = Files.readAllBytes(elf("x", List.of(new Segment(false, 0, page(1, 1)))));
        elf32[4] = 1;
        refused(Files.write(dir.resolve("elf32"), elf32), "not a 64-bit little-endian ELF");
        byte[] exec = elf32.clone();
        exec[4] = 2;
        exec[16] = 2;
        refused(Files.write(dir.resolve("exec"), exec), "not an x86-64 ELF core");
        refused(elf("notes-only", List.of(new Segment(true, 0, qemuNote(1, 2)))), "no PT_LOAD");
        refused(elf("overlap", List.of(new Segment(false, 0, page(1, 2)), new Segment(false, PAGE, page(2, 1)))),
                "overlap");
        refused(elf("far", List.of(new Segment(false, Long.MAX_VALUE - PAGE, page(1, 1)))), "52-bit");

        Path past = elf("past", List.of(new Segment(false, 0, page(1, 1))));
        byte[] bytes = Files.readAllBytes(past);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(64 + 32, 1L << 40);
        refused(Files.write(past, bytes), "lies outside the file");
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(64 + 32, PAGE).putShort(0x38, (short) 0x7000);
        refused(Files.write(past, bytes), "program headers");

        assertThatThrownBy(() -> MemoryImage.open(dir.resolve("absent"))).isInstanceOf(VmGoneException.class);
        assertThatThrownBy(() -> MemoryImage.open(dir)).isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("not a regular file");
    }

    @Test
    void aDamagedNoteLosesTheRegistersNotTheMemory() throws IOException {
        byte[] note = qemuNote(1, 2);
        ByteBuffer.wrap(note).order(ByteOrder.LITTLE_ENDIAN).putInt(4, Integer.MAX_VALUE); // descsz past the note
        try (MemoryImage image = MemoryImage.open(elf("damaged", List.of(new Segment(true, 0, note),
                new Segment(false, 0, page(7, 1)))))) {
            assertThat(image.registers()).isEmpty();
            assertThat(image.memory().readByte(10)).isEqualTo((byte) 7);
        }
    }

    private static void refused(Path file, String reason) {
        assertThatThrownBy(() -> MemoryImage.open(file)).as(file.getFileName().toString())
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining(reason);
    }

    @Test
    void aDirectoryServesEachFileAsAVmNamedAfterIt() throws IOException {
        Path images = Files.createDirectory(dir.resolve("images"));
        Files.write(images.resolve("Web Server 1.ELF"), page(0, 1));
        Files.write(images.resolve("web-server-1.raw"), page(0, 1)); // the same VM name: not served
        Files.write(images.resolve("db.raw"), page(0, 2));
        Files.write(images.resolve(".partial"), page(0, 1));
        Files.createDirectory(images.resolve("sub"));
        MemoryImageDriver driver = MemoryImageDriver.over(new ImageDirectory(images, RawLayout.Q35));
        assertThat(driver.domains()).extracting(DomainInfo::name).containsExactly("db", "web-server-1");
        assertThat(driver.domain("db")).get().satisfies(d -> {
            assertThat(d.platform()).isEqualTo("image");
            assertThat(d.memoryBytes()).isEqualTo(2 * PAGE);
        });
        assertThat(new ImageDirectory(images, RawLayout.Q35).find("web-server-1")).get()
                .extracting(ImageDirectory.Image::file).isEqualTo(images.resolve("Web Server 1.ELF"));
        assertThat(driver.domain("partial")).isEmpty();
        assertThatThrownBy(() -> driver.open("nothing")).isInstanceOf(VmGoneException.class);
        Files.delete(images.resolve("db.raw"));
        assertThat(driver.domains()).extracting(DomainInfo::name).containsExactly("web-server-1");
        assertThat(ImageDirectory.nameOf(Path.of("..."))).isEqualTo("image");
        assertThat(ImageDirectory.nameOf(Path.of("a".repeat(40) + ".elf"))).hasSize(32);
    }
}
