package dev.periscope.vmi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

/**
 * A q35 guest's split RAM in miniature: block "ram" of 8 pages, pages 0-3 at guest physical 0, pages 4-7 from guest
 * physical page 12 (a hole of 8 pages between, as q35's hole below 4 GiB), and a second block "dimm" of 2 pages at
 * page 16.
 */
class RamLayoutTest {

    private static final long P = RamLayout.PAGE;

    private static RamLayout split() {
        return RamLayout.of(List.of(new RamLayout.Block("ram", 8 * P, -1), new RamLayout.Block("dimm", 2 * P, -1)),
                List.of(new RamLayout.Range(12 * P, 4 * P, "ram", 4 * P), new RamLayout.Range(0, P, "ram", 0),
                        new RamLayout.Range(P, 3 * P, "ram", P), new RamLayout.Range(16 * P, 2 * P, "dimm", 0)));
    }

    /** Each page of block "ram" starts with its own page number, each page of "dimm" with 100 + its number. */
    private static Map<String, PhysicalMemory> blocks() {
        var ram = ByteArrayPhysicalMemory.ofSize((int) (8 * P));
        for (int page = 0; page < 8; page++) {
            ram.writeLong(page * P, page);
        }
        var dimm = ByteArrayPhysicalMemory.ofSize((int) (2 * P));
        dimm.writeLong(0, 100).writeLong(P, 101);
        return Map.of("ram", ram, "dimm", dimm);
    }

    @Test
    void mergesAdjacentRangesAndSortsThem() {
        RamLayout layout = split();
        assertThat(layout.ranges()).containsExactly(new RamLayout.Range(0, 4 * P, "ram", 0),
                new RamLayout.Range(12 * P, 4 * P, "ram", 4 * P), new RamLayout.Range(16 * P, 2 * P, "dimm", 0));
        assertThat(layout.limit()).isEqualTo(18 * P);
        assertThat(layout.ramBytes()).isEqualTo(10 * P);
        assertThat(layout.mappedBytes()).isEqualTo(10 * P);
        assertThat(layout.isLinear()).isFalse();
        assertThat(RamLayout.linear("mem", 4 * P).isLinear()).isTrue();
    }

    @Test
    void readsEachRangeFromItsBlockAndHolesAreNotPresent() {
        PhysicalMemory memory = split().assemble(blocks());
        assertThat(memory.size()).isEqualTo(18 * P);
        assertThat(memory.readLong(3 * P)).isEqualTo(3);
        assertThat(memory.readLong(12 * P)).as("first page above the hole is block page 4").isEqualTo(4);
        assertThat(memory.readLong(15 * P)).isEqualTo(7);
        assertThat(memory.readLong(17 * P)).isEqualTo(101);
        assertThatThrownBy(() -> memory.readLong(4 * P)).isInstanceOf(PageNotPresentException.class)
                .hasMessageContaining("hole");
        assertThatThrownBy(() -> memory.readByte(11 * P + 4095)).isInstanceOf(PageNotPresentException.class);
        assertThatThrownBy(() -> memory.readLong(4 * P - 4)).as("a value across the edge of a hole")
                .isInstanceOf(PageNotPresentException.class);
        assertThatThrownBy(() -> memory.readLong(18 * P)).isInstanceOf(PageNotPresentException.class)
                .hasMessageContaining("outside");
        assertThatThrownBy(() -> memory.readInt(-8)).isInstanceOf(PageNotPresentException.class);
        byte[] across = new byte[16];
        memory.read(16 * P - 8, across, 0, 16); // block "ram" page 7's end, then block "dimm" page 0
        assertThat(across[8]).isEqualTo((byte) 100);
    }

    @Test
    void searchesEveryRangeAndReportsGuestPhysicalAddresses() {
        Map<String, PhysicalMemory> blocks = blocks();
        byte[] banner = "Linux version ".getBytes(StandardCharsets.US_ASCII);
        ((ByteArrayPhysicalMemory) blocks.get("ram")).write(6 * P + 100, banner);
        ((ByteArrayPhysicalMemory) blocks.get("dimm")).write(P + 8, banner);
        PhysicalMemory memory = split().assemble(blocks);
        assertThat(memory.indexOf(banner, 0, memory.size())).isEqualTo(14 * P + 100);
        assertThat(memory.indexOf(banner, 14 * P + 101, memory.size())).isEqualTo(17 * P + 8);
        assertThat(memory.indexOf(banner, 0, 14 * P + 100 + banner.length - 1)).isEqualTo(-1);
        assertThat(memory.indexOf(banner, 4 * P, 12 * P)).as("inside the hole").isEqualTo(-1);
    }

    @Test
    void aLinearLayoutIsItsBlockItself() {
        var block = ByteArrayPhysicalMemory.ofSize((int) (4 * P));
        assertThat(RamLayout.linear("mem", 4 * P).assemble(Map.of("mem", block))).isSameAs(block);
    }

    @Test
    void rejectsLayoutsThatWouldReadWrongBytes() {
        var ram = new RamLayout.Block("ram", 4 * P, -1);
        assertThatThrownBy(() -> RamLayout.of(List.of(ram), List.of(new RamLayout.Range(0, 2 * P, "ram", 0),
                new RamLayout.Range(P, 2 * P, "ram", 2 * P)))).hasMessageContaining("overlap");
        assertThatThrownBy(() -> RamLayout.of(List.of(ram), List.of(new RamLayout.Range(0, 2 * P, "ram", 3 * P))))
                .hasMessageContaining("ends past");
        assertThatThrownBy(() -> RamLayout.of(List.of(ram), List.of(new RamLayout.Range(0, P, "rom", 0))))
                .hasMessageContaining("unknown RAM block");
        assertThatThrownBy(() -> new RamLayout.Range(100, P, "ram", 0)).hasMessageContaining("aligned");
        assertThatThrownBy(() -> RamLayout.of(List.of(ram), List.of())).hasMessageContaining("no guest RAM");
        RamLayout layout = RamLayout.of(List.of(ram), List.of(new RamLayout.Range(0, 4 * P, "ram", 0)));
        assertThatThrownBy(() -> layout.assemble(Map.of("ram", ByteArrayPhysicalMemory.ofSize((int) (3 * P)))))
                .hasMessageContaining("its memory");
        assertThatThrownBy(() -> layout.assemble(Map.of())).hasMessageContaining("no memory");
    }

    /** Every address reads as the block's byte its range puts there, or fails as a hole: never another byte. */
    @Property(tries = 300)
    void everyAddressIsItsBlocksByteOrAHole(@ForAll @LongRange(min = 0, max = 18 * 4096 - 1) long address) {
        Map<String, PhysicalMemory> blocks = blocks();
        PhysicalMemory memory = split().assemble(blocks);
        long page = address / P;
        if (page >= 4 && page < 12) {
            assertThatThrownBy(() -> memory.readByte(address)).isInstanceOf(PageNotPresentException.class);
            return;
        }
        String block = page >= 16 ? "dimm" : "ram";
        long offset = page >= 16 ? address - 16 * P : page >= 12 ? address - 8 * P : address;
        assertThat(memory.readByte(address)).isEqualTo(blocks.get(block).readByte(offset));
    }
}
