package dev.periscope.vmi.paging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

class X86AddressSpaceTest {

    static final long KERNEL = 0xffff_ffff_8100_0000L;
    static final long USER = 0x0000_7fff_1234_5000L;

    @Test
    void translatesFourKilobytePages() {
        var tables = new PageTables(4 << 20, false).map4k(USER, 0x3000).map4k(KERNEL, 0x5000);
        tables.memory.writeLong(0x3010, 0x1122_3344_5566_7788L);
        var space = tables.space();
        assertThat(space.translate(USER + 0x10)).isEqualTo(0x3010);
        assertThat(space.readLong(USER + 0x10)).isEqualTo(0x1122_3344_5566_7788L);
        assertThat(space.readInt(USER + 0x10)).isEqualTo(0x5566_7788);
        assertThat(space.translate(KERNEL + 0xfff)).isEqualTo(0x5fff);
        assertThat(space.isMapped(KERNEL)).isTrue();
        assertThat(space.isMapped(KERNEL + 0x1000)).isFalse();
    }

    @Test
    void translatesTwoMegabyteAndOneGigabytePages() {
        var tables = new PageTables(8 << 20, false)
                .map2m(KERNEL, 0x20_0000)
                .map1g(0xffff_8880_0000_0000L, 0);
        var space = tables.space();
        assertThat(space.translate(KERNEL + 0x1_2345)).isEqualTo(0x21_2345);
        assertThat(space.translate(0xffff_8880_0001_2345L)).isEqualTo(0x1_2345);
        // A 1 GiB page reaching past RAM is present only where RAM is.
        assertThat(space.isMapped(0xffff_8880_0070_0000L)).isTrue();
        assertThat(space.isMapped(0xffff_8880_0080_0000L)).isFalse();
    }

    @Test
    void translatesWithFiveLevelPaging() {
        long va = 0xff11_2233_4455_6000L; // canonical only with LA57
        var tables = new PageTables(4 << 20, true).map4k(va, 0x7000).map2m(0x00ff_0000_0000_0000L, 0x20_0000);
        assertThat(tables.space().translate(va + 8)).isEqualTo(0x7008);
        assertThat(tables.space().translate(0x00ff_0000_0000_0123L)).isEqualTo(0x20_0123);
        assertThat(tables.space().isFiveLevel()).isTrue();
        // The same address is not canonical with 4-level paging.
        assertThatThrownBy(() -> new X86AddressSpace(tables.memory, tables.root, false).translate(va))
                .isInstanceOf(PageNotPresentException.class).hasMessageContaining("non-canonical");
    }

    @Test
    void reportsNotPresentAtEveryLevel() {
        for (int level = 1; level <= 5; level++) {
            var tables = new PageTables(4 << 20, true).map4k(USER, 0x3000);
            long entry = level == 5 ? tables.root + PageTables.index(USER, 5) * 8 : tables.entryAddress(USER, level);
            tables.memory.writeLong(entry, tables.memory.readLong(entry) & ~PageTables.P);
            var space = tables.space();
            assertThatThrownBy(() -> space.translate(USER)).as("level %d", level)
                    .isInstanceOf(PageNotPresentException.class);
            assertThat(space.isMapped(USER)).isFalse();
        }
    }

    @Test
    void entriesPointingOutsideRamAreNotPresent() {
        var tables = new PageTables(4 << 20, false).map4k(USER, 0x3000);
        tables.memory.writeLong(tables.entryAddress(USER, 2), 0x0000_7fff_0000_0000L | PageTables.P);
        assertThatThrownBy(() -> tables.space().translate(USER)).isInstanceOf(PageNotPresentException.class);
        tables.map4k(KERNEL, 0x0008_0000_0000_0000L);
        assertThatThrownBy(() -> tables.space().translate(KERNEL)).isInstanceOf(PageNotPresentException.class);
        var outside = new X86AddressSpace(ByteArrayPhysicalMemory.ofSize(4096), 0x10_0000, false);
        assertThatThrownBy(() -> outside.readLong(USER)).isInstanceOf(PageNotPresentException.class);
    }

    @Test
    void largePageBitAtTheTopLevelIsNotAPage() {
        var tables = new PageTables(4 << 20, false);
        tables.memory.writeLong(tables.root + PageTables.index(KERNEL, 4) * 8, PageTables.P | PageTables.PS);
        assertThatThrownBy(() -> tables.space().translate(KERNEL)).isInstanceOf(PageNotPresentException.class);
    }

    @Test
    void readsAcrossPagesMappedToScatteredFrames() {
        var tables = new PageTables(4 << 20, false).map4k(USER, 0x9000).map4k(USER + 0x1000, 0x2000);
        for (int i = 0; i < 8; i++) {
            tables.memory.writeByte(0x9ffc + i, i < 4 ? 0x10 + i : 0);
            tables.memory.writeByte(0x2000 + i, 0x20 + i);
        }
        var space = tables.space();
        assertThat(space.readLong(USER + 0xffc)).isEqualTo(0x2322_2120_1312_1110L);
        assertThat(space.readInt(USER + 0xffe)).isEqualTo(0x2120_1312);
        byte[] buffer = new byte[4100];
        space.read(USER + 0xffc, buffer, 0, buffer.length);
        assertThat(buffer[3]).isEqualTo((byte) 0x13);
        assertThat(buffer[4]).isEqualTo((byte) 0x20);
        // The second page missing fails the whole read, even though the first half is mapped.
        assertThatThrownBy(() -> space.readLong(USER + 0x1ffc)).isInstanceOf(PageNotPresentException.class);
    }

    @Test
    void cachedTranslationsStayUntilInvalidated() {
        var tables = new PageTables(4 << 20, false).map4k(USER, 0x3000);
        tables.memory.writeLong(0x3000, 1).writeLong(0x4000, 2);
        var space = tables.space();
        assertThat(space.readLong(USER)).isEqualTo(1);
        tables.map4k(USER, 0x4000);
        assertThat(space.readLong(USER)).as("stale until invalidated").isEqualTo(1);
        space.invalidate();
        assertThat(space.readLong(USER)).isEqualTo(2);
        tables.memory.writeLong(tables.entryAddress(USER, 1), 0);
        assertThat(space.isMapped(USER)).isTrue();
        space.invalidate();
        assertThat(space.isMapped(USER)).isFalse();
    }

    @Test
    void normalisesCr3() {
        assertThat(Dtb.of(0x8000_0000_1234_5003L)).isEqualTo(0x1234_5000L);
        assertThat(Dtb.kernelPgd(0x8000_0000_1234_5803L)).isEqualTo(0x1234_4000L);
        assertThat(new X86AddressSpace(ByteArrayPhysicalMemory.ofSize(16), 0x1234_5fffL, false).dtb())
                .isEqualTo(0x1234_5000L);
    }

    /** A Xen PV guest: its entries name machine frames, which its memory maps back to its own frames. */
    @Test
    void followsMachineFramesThroughTheGuestsMemory() {
        int ram = 4 << 20;
        long machineBase = 0x4000_0000L; // the guest's frame g is machine frame g + machineBase
        var tables = new PageTables(ram, false).map4k(USER, 0x3000).map2m(KERNEL, 0x20_0000);
        tables.memory.writeLong(0x3010, 0x1234L).writeLong(0x20_1008, 0x5678L);
        long userPte = tables.entryAddress(USER, 1);
        for (long e = tables.lowestTable(); e < ram; e += 8) { // rewrite every present entry as a PV kernel has it
            long v = tables.memory.readLong(e);
            if ((v & PageTables.P) != 0) {
                tables.memory.writeLong(e, v + machineBase);
            }
        }
        var memory = new PhysicalMemory() {
            final ByteArrayPhysicalMemory guest = tables.memory;
            public long size() { return guest.size(); }
            public void read(long a, byte[] t, int o, int n) { guest.read(a, t, o, n); }
            public long indexOf(byte[] n, long f, long t) { return guest.indexOf(n, f, t); }
            public boolean pageTablesHoldMachineFrames() { return true; }
            public long pageTableFrame(long machine) {
                if (machine < machineBase || machine - machineBase >= ram) {
                    throw new PageNotPresentException("not the guest's", machine);
                }
                return machine - machineBase;
            }
        };
        var space = new X86AddressSpace(memory, tables.root, false);
        assertThat(space.translate(USER + 0x10)).isEqualTo(0x3010);
        assertThat(space.readLong(USER + 0x10)).isEqualTo(0x1234L);
        assertThat(space.readLong(KERNEL + 0x1008)).isEqualTo(0x5678L);
        // an entry naming a frame that is not the guest's (a hostile or stale PTE) is not present, never read
        tables.memory.writeLong(userPte, 0x3000 | PageTables.P);
        space.invalidate();
        assertThatThrownBy(() -> space.readLong(USER)).isInstanceOf(PageNotPresentException.class)
                .hasMessageContaining("not the guest's");
    }
}
