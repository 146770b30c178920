package dev.periscope.vmi.linux;

import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One named hostile guest memory: a base image, what is corrupted in it and how, and which outcomes are correct.
 *
 * @param name      stable case name, {@code base/what}
 * @param base      the image the corruption is applied to
 * @param corrupts  what is corrupted, for the reliability table
 * @param expected  the outcome the engine must give, in words, for the table
 * @param accepted  outcomes that are correct for this case
 * @param discover  derive the kernel profile from the corrupted memory (as a first attach does); otherwise walk
 *                  with the clean base's profile (the engine has already attached)
 * @param corrupt   applies the corruption (and records which processes it changes on purpose)
 * @param check     a case-specific check of the result, or null
 * @param timeBound the stated time bound: CPU time of the thread that runs the engine on the case
 * @param memoryBound the stated bound on bytes allocated by that thread (profile and walk)
 */
record HostileCase(String name, Base base, String corrupts, String expected, Set<Outcome> accepted,
                   boolean discover, Consumer<HostileImage> corrupt, Check check, Duration timeBound,
                   long memoryBound) {

    /** The image a case starts from. */
    enum Base {
        /** {@link SyntheticGuest}: every structure under the test's control, no kallsyms or BTF. */
        SYNTHETIC,
        /** Debian's real vmlinux laid out as the RAM of a guest that never booted: kallsyms, BTF, banner. */
        KERNEL_IMAGE,
        /** The RAM of a running lab guest, dumped into the cache by the lab test. */
        LAB_IMAGE
    }

    /** What the engine did with a case. The first three are acceptable when the case lists them. */
    enum Outcome {
        /** The clean base's result, no warnings. */
        CORRECT,
        /** A result with warnings that say what was skipped; every process presented as real is real. */
        PARTIAL,
        /** A {@link dev.periscope.vmi.VmiException}. */
        TYPED_ERROR,
        /** A process presented as real that is not, a silently missing one, or the case's own check failed. */
        WRONG,
        /** An exception other than a VmiException. */
        UNCHECKED,
        /** The case ran past its time bound. */
        HANG,
        /** An OutOfMemoryError, or more allocated than the case's memory bound. */
        OOM
    }

    /** A case-specific check: a problem in words, or null when the result is right. */
    @FunctionalInterface
    interface Check {
        String problem(HostileImage image, LinuxModel.Processes result);
    }

    static final Set<Outcome> PARTIAL_ONLY = EnumSet.of(Outcome.PARTIAL);
    static final Set<Outcome> CORRECT_ONLY = EnumSet.of(Outcome.CORRECT);
    static final Set<Outcome> TYPED_ONLY = EnumSet.of(Outcome.TYPED_ERROR);
    static final Set<Outcome> PARTIAL_OR_TYPED = EnumSet.of(Outcome.PARTIAL, Outcome.TYPED_ERROR);
}
