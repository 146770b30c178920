package dev.periscope.process;

import dev.periscope.vmi.linux.ProcessList;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A process list and how it was taken: the acquisition mode, whether it is consistent, the guest downtime it
 * cost and the snapshot's age, in microseconds so that tools need not parse durations.
 */
public record ProcessListView(String vm, String kernelVersion, String mode, boolean consistent, Instant takenAt,
                              long guestDowntimeMicros, long snapshotAgeMicros, long readMicros,
                              List<ProcessView> processes, List<String> warnings) {

    /** {@code list} read from the VM {@code vm} ({@code name@host}). */
    public static ProcessListView of(String vm, ProcessList list) {
        return new ProcessListView(vm, list.kernelVersion(), list.mode().name().toLowerCase(),
                list.consistent(), list.takenAt(), micros(list.guestDowntime()), micros(list.snapshotAge()),
                micros(list.readTime()), list.processes().stream().map(ProcessView::of).toList(), list.warnings());
    }

    private static long micros(Duration duration) {
        return duration.toNanos() / 1_000;
    }
}
