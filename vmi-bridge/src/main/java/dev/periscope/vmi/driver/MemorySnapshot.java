package dev.periscope.vmi.driver;

import dev.periscope.vmi.memory.PhysicalMemory;
import java.time.Duration;
import java.time.Instant;

/** A consistent image of guest RAM at one instant, with what taking it cost. Close to free its storage. */
public interface MemorySnapshot extends AutoCloseable {

    PhysicalMemory memory();

    /** vCPU registers as they were when the snapshot was taken. */
    VcpuRegisters registers(int vcpu);

    /** When the guest state was frozen. */
    Instant takenAt();

    /** How long the guest was stopped to take it (the guest-visible cost). */
    Duration guestDowntime();

    /** Wall time from request to a readable image. */
    Duration totalTime();

    @Override
    void close();
}
