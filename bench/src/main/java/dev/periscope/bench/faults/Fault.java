package dev.periscope.bench.faults;

import java.util.List;
import java.util.Optional;

/** One fault of the suite: done to the real parts once per repetition, observed as a user would. */
interface Fault {

    /** Its name on the command line ({@code --only}), e.g. {@code qemu-kill-trace}. */
    String name();

    /** The fault in words, as the results table names it. */
    String description();

    /** What its losses are counted in ("syscall events", "process lists", "archive rows"). */
    String lostUnit();

    /** Why it cannot run here (no lab, no Docker, not root); empty when it can. */
    Optional<String> unavailable(Stage stage);

    /** Starts what its repetitions share. */
    default void prepare(Stage stage) {
    }

    /** The processes that live through every repetition, whose resources must not grow; known after prepare. */
    List<Watched> watched(Stage stage);

    /** One repetition ({@code repetition} counts from 1). */
    Observation once(Stage stage, int repetition) throws Exception;

    /** Ends what its repetitions shared. */
    default void finish(Stage stage) {
    }

    /** A process to watch for leaks, and how it is named in the results. */
    record Watched(String label, long pid) {
    }
}
