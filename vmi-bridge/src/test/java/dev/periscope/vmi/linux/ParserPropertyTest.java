package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

/**
 * The guest-data parsers under jqwik's generated inputs (edge cases first: empty, zero, minimum and maximum
 * values, then random ones), with the contracts of {@link ParserHarness}. The number of tries per property is
 * jqwik's default (1000, {@code jqwik.tries.default}); {@code bench/hostile.sh} raises it for a long run.
 */
class ParserPropertyTest {

    @Example
    void kernelBtfIsComplete() {
        KernelOffsets o = KernelOffsets.from(Btf.parse(ParserHarness.KERNEL_BTF));
        assertThat(o.names().workerIds()).isTrue();
        assertThat(o.pidTable().present()).isTrue();
    }

    @Property
    void btfWithPatchedBytes(@ForAll @Size(max = 32) long[] patches) {
        ParserHarness.btf(ParserHarness.patched(ParserHarness.KERNEL_BTF, patches));
    }

    @Property
    void btfRawTypes(@ForAll @Size(max = 2048) byte[] types) {
        byte[] blob = Arrays.copyOf(ParserHarness.KERNEL_BTF, 24 + types.length);
        System.arraycopy(types, 0, blob, 24, types.length);
        ParserHarness.btf(blob);
    }

    @Property
    void kallsymsWithPatchedBytes(@ForAll @Size(max = 32) long[] patches, @ForAll boolean layout612) {
        ParserHarness.kallsyms(ParserHarness.patched(layout612 ? ParserHarness.KALLSYMS_612
                : ParserHarness.KALLSYMS_61, patches), layout612 ? ParserHarness.KALLSYMS_612_HIT
                : ParserHarness.KALLSYMS_61_HIT);
    }

    @Property
    void taskWalkWithWrites(@ForAll @Size(max = 64) long[] writes, @ForAll boolean fullThreads) {
        ParserHarness.taskWalk(writes, fullThreads);
    }

    @Property
    void pageWalkOverArbitraryTables(@ForAll @Size(min = 4096, max = 65536) byte[] ram, @ForAll long dtb,
                                     @ForAll @Size(max = 16) long[] addresses, @ForAll boolean fiveLevel) {
        ParserHarness.pageWalk(ram, Math.floorMod(dtb, (long) ram.length) & ~0xfffL, addresses, fiveLevel);
    }
}
