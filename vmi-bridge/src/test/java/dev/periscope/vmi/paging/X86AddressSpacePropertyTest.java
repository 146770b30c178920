package dev.periscope.vmi.paging;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class X86AddressSpacePropertyTest {

    private static final int RAM = 64 * 4096;

    /** Page tables are guest data: whatever they hold, the walker reports only "not present". */
    @Property(tries = 500)
    void randomTablesNeverThrowAnythingElse(@ForAll("entries") List<Long> entries, @ForAll long seed,
                                            @ForAll boolean fiveLevel, @ForAll("addresses") List<Long> addresses,
                                            @ForAll @IntRange(min = 0, max = RAM / 4096 + 2) int rootPage) {
        var memory = ByteArrayPhysicalMemory.ofSize(RAM);
        var random = new Random(seed);
        for (long entry : entries) {
            memory.writeLong((long) random.nextInt(RAM / 8) * 8, entry);
        }
        var space = new X86AddressSpace(memory, (long) rootPage * 4096, fiveLevel);
        for (long va : addresses) {
            try {
                long pa = space.translate(va);
                assertThat(pa).isBetween(0L, (long) RAM - 1);
                space.readLong(va);
                space.read(va, new byte[5000], 0, 5000);
            } catch (PageNotPresentException expected) {
                // the only permitted failure
            }
            space.isMapped(va);
        }
    }

    @Provide
    Arbitrary<List<Long>> entries() {
        // Entries biased towards present bits and addresses inside RAM, so that walks get deep.
        Arbitrary<Long> plausible = Arbitraries.longs().between(0, RAM / 4096 + 4)
                .flatMap(page -> Arbitraries.longs().between(0, 0x1ff)
                        .map(flags -> page << 12 | flags | 1));
        Arbitrary<Long> wild = Arbitraries.longs();
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(4, plausible), net.jqwik.api.Tuple.of(1, wild))
                .list().ofMaxSize(4000);
    }

    @Provide
    Arbitrary<List<Long>> addresses() {
        return Arbitraries.oneOf(Arbitraries.longs(), Arbitraries.longs().between(0, 1L << 22),
                Arbitraries.longs().between(-(1L << 22), -1)).list().ofMinSize(1).ofMaxSize(30);
    }

    /** A mapping made with the builder translates to exactly what was mapped, at every page size. */
    @Property(tries = 300)
    void mappedPagesTranslateExactly(@ForAll("virtualPages") @Size(min = 1, max = 20) List<Long> pages,
                                     @ForAll boolean fiveLevel, @ForAll @IntRange(min = 0, max = 4095) int offset) {
        var tables = new PageTables(8 << 20, fiveLevel);
        long frame = 0;
        var distinct = pages.stream().map(p -> p & ~0xfffL).distinct().toList();
        for (long va : distinct) {
            tables.map4k(va, frame);
            frame += 4096;
        }
        var space = tables.space();
        frame = 0;
        for (long va : distinct) {
            assertThat(space.translate(va | offset)).isEqualTo(frame | offset);
            frame += 4096;
        }
    }

    @Provide
    Arbitrary<List<Long>> virtualPages() {
        // Canonical 4-level addresses: user half and kernel half.
        return Arbitraries.oneOf(Arbitraries.longs().between(0, (1L << 47) - 1),
                Arbitraries.longs().between(-(1L << 47), -1)).list();
    }
}
