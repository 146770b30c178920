package dev.periscope.vmi.linux;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.Arrays;

/**
 * Coverage-guided fuzzing of the guest-data parsers with Jazzer ({@link ParserHarness} holds the targets and their
 * contracts). In a normal build these run as regression tests over the inputs kept in
 * {@code src/test/resources/.../ParserFuzzTestInputs/<method>/} (and an empty input); {@code bench/hostile.sh}
 * fuzzes each for a set time with {@code JAZZER_FUZZ=1}, and any input that breaks a contract is saved there as
 * a regression input.
 */
class ParserFuzzTest {

    private static long[] patches(FuzzedDataProvider data, int max) {
        long[] p = new long[data.consumeInt(0, max)];
        for (int i = 0; i < p.length; i++) {
            p[i] = data.consumeLong();
        }
        return p;
    }

    /** The kernel BTF with patched bytes, or raw bytes after a valid header. */
    @FuzzTest(maxDuration = "30s")
    void btf(FuzzedDataProvider data) {
        if (data.consumeBoolean()) {
            ParserHarness.btf(ParserHarness.patched(ParserHarness.KERNEL_BTF, patches(data, 32)));
        } else {
            byte[] header = ParserHarness.KERNEL_BTF.clone();
            byte[] rest = data.consumeRemainingAsBytes();
            byte[] blob = Arrays.copyOf(header, 24 + rest.length);
            System.arraycopy(rest, 0, blob, 24, rest.length);
            ParserHarness.btf(blob);
        }
    }

    /** kallsyms tables in the 6.1 or the 6.12 layout with patched bytes. */
    @FuzzTest(maxDuration = "30s")
    void kallsyms(FuzzedDataProvider data) {
        boolean layout612 = data.consumeBoolean();
        byte[] base = layout612 ? ParserHarness.KALLSYMS_612 : ParserHarness.KALLSYMS_61;
        int hit = layout612 ? ParserHarness.KALLSYMS_612_HIT : ParserHarness.KALLSYMS_61_HIT;
        ParserHarness.kallsyms(ParserHarness.patched(base, patches(data, 32)), hit);
    }

    /** The synthetic guest with 8-byte values written anywhere in its RAM. */
    @FuzzTest(maxDuration = "30s")
    void taskWalk(FuzzedDataProvider data) {
        boolean full = data.consumeBoolean();
        ParserHarness.taskWalk(patches(data, 64), full);
    }

    /** Page tables of arbitrary bytes, 4- and 5-level. */
    @FuzzTest(maxDuration = "30s")
    void pageWalk(FuzzedDataProvider data) {
        boolean fiveLevel = data.consumeBoolean();
        long dtb = data.consumeLong(0, 15) << 12;
        long[] addresses = patches(data, 16);
        ParserHarness.pageWalk(data.consumeRemainingAsBytes(), dtb, addresses, fiveLevel);
    }
}
