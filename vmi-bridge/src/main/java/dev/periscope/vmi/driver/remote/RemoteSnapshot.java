package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;

/** A snapshot held by the driver server for this connection; closing it releases it there. */
final class RemoteSnapshot implements MemorySnapshot {

    private final RemoteConnection connection;
    private final int space;
    private final RemoteMemory memory;
    private final Instant takenAt;
    private final Duration downtime;
    private final Duration total;
    private boolean closed;

    RemoteSnapshot(RemoteConnection connection, int space, long size, boolean machineFrames, Instant takenAt,
                   Duration downtime, Duration total, String vm) {
        this.connection = connection;
        this.space = space;
        this.memory = new RemoteMemory(connection, space, size, machineFrames, "snapshot " + space + " of " + vm);
        this.takenAt = takenAt;
        this.downtime = downtime;
        this.total = total;
    }

    @Override
    public PhysicalMemory memory() {
        return memory;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        return connection.callFor(memory.description(), out -> {
            out.writeByte(Wire.REGISTERS);
            out.writeInt(space);
            out.writeInt(vcpu);
        }, Wire::readRegisters);
    }

    @Override
    public Instant takenAt() {
        return takenAt;
    }

    @Override
    public Duration guestDowntime() {
        return downtime;
    }

    @Override
    public Duration totalTime() {
        return total;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            connection.call(out -> {
                out.writeByte(Wire.CLOSE_SNAPSHOT);
                out.writeInt(space);
            }, in -> null);
        } catch (IOException e) {
            // the connection is gone, and the server released the snapshot with it
        }
    }
}
