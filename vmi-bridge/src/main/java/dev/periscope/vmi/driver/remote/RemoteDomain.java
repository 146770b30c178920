package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;

/** A domain attached on the driver server through its own connection; closing it detaches it there. */
final class RemoteDomain implements Domain {

    private final RemoteConnection connection;
    private final DomainInfo info;
    private final Set<Capability> capabilities;
    private final int vcpus;
    private final RemoteMemory memory;
    private volatile Duration lastPause = Duration.ZERO;

    private RemoteDomain(RemoteConnection connection, DomainInfo info, Set<Capability> capabilities, int vcpus,
                         long memorySize, boolean machineFrames) {
        this.connection = connection;
        this.info = info;
        this.capabilities = capabilities;
        this.vcpus = vcpus;
        this.memory = new RemoteMemory(connection, Wire.LIVE, memorySize, machineFrames, info.name());
    }

    /** Attaches {@code name} on a fresh connection, which the domain then owns. */
    static RemoteDomain open(RemoteConnection connection, String name) throws IOException {
        return connection.call(out -> {
            out.writeByte(Wire.OPEN);
            out.writeUTF(name);
        }, in -> {
            DomainInfo info = Wire.readInfo(in);
            Set<Capability> caps = RemoteDriver.overTheWire(Wire.readCapabilities(in));
            int vcpus = in.readInt();
            long size = in.readLong();
            boolean machineFrames = in.readBoolean();
            return new RemoteDomain(connection, info, caps, vcpus, size, machineFrames);
        });
    }

    @Override
    public DomainInfo info() {
        return info;
    }

    @Override
    public Set<Capability> capabilities() {
        return capabilities;
    }

    @Override
    public PhysicalMemory memory() {
        return memory;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        return call(out -> {
            out.writeByte(Wire.REGISTERS);
            out.writeInt(Wire.LIVE);
            out.writeInt(vcpu);
        }, Wire::readRegisters);
    }

    @Override
    public int vcpuCount() {
        return vcpus;
    }

    @Override
    public void pause() {
        memory.invalidate();
        call(out -> out.writeByte(Wire.PAUSE), in -> null);
        memory.invalidate(); // nothing read before the pause is the paused state
    }

    @Override
    public void resume() {
        long nanos = call(out -> out.writeByte(Wire.RESUME), in -> in.readLong());
        lastPause = Duration.ofNanos(nanos);
        memory.invalidate();
    }

    @Override
    public Duration lastPauseDuration() {
        return lastPause;
    }

    @Override
    public MemorySnapshot snapshot() {
        return call(out -> out.writeByte(Wire.SNAPSHOT), in -> {
            int space = in.readInt();
            long size = in.readLong();
            boolean machineFrames = in.readBoolean();
            var takenAt = Wire.readInstant(in);
            Duration downtime = Duration.ofNanos(in.readLong());
            Duration total = Duration.ofNanos(in.readLong());
            return new RemoteSnapshot(connection, space, size, machineFrames, takenAt, downtime, total, info.name());
        });
    }

    private <T> T call(RemoteConnection.Request request, RemoteConnection.Response<T> response) {
        return connection.callFor(info.name(), request, response);
    }

    @Override
    public void close() {
        connection.close();
    }
}
