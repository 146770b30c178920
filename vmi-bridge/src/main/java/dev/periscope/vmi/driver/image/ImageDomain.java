package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;

/** An image opened as a VM: memory that never changes, registers when the file has them, its own snapshot. */
final class ImageDomain implements Domain {

    private final DomainInfo info;
    private final MemoryImage image;
    private final boolean owned;
    private final Set<Capability> capabilities;

    ImageDomain(DomainInfo info, MemoryImage image, boolean owned, Set<Capability> capabilities) {
        this.info = info;
        this.image = image;
        this.owned = owned;
        this.capabilities = capabilities;
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
        return image.memory();
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        if (vcpu < 0 || vcpu >= image.registers().size()) {
            throw new PlatformUnavailableException(info.name() + ": the " + image.format().description()
                    + " holds no registers of vCPU " + vcpu);
        }
        return image.registers().get(vcpu);
    }

    @Override
    public int vcpuCount() {
        return Math.max(1, image.registers().size());
    }

    @Override
    public void pause() {
        throw notRunning("paused");
    }

    @Override
    public void resume() {
        throw notRunning("resumed");
    }

    private PlatformUnavailableException notRunning(String what) {
        return new PlatformUnavailableException(info.name() + " is a memory image, not a running guest: it cannot be "
                + what + " (its memory never changes; read it in mode snapshot)");
    }

    /** The image itself: frozen when the file was written, taken at no cost to anyone. */
    @Override
    public MemorySnapshot snapshot() {
        return new MemorySnapshot() {
            @Override
            public PhysicalMemory memory() {
                return image.memory();
            }

            @Override
            public VcpuRegisters registers(int vcpu) {
                return ImageDomain.this.registers(vcpu);
            }

            @Override
            public Instant takenAt() {
                return image.modified();
            }

            @Override
            public Duration guestDowntime() {
                return Duration.ZERO;
            }

            @Override
            public Duration totalTime() {
                return Duration.ZERO;
            }

            @Override
            public void close() {
                // nothing was copied
            }
        };
    }

    @Override
    public String eventsUnavailableReason() {
        return "it is a memory image: nothing runs in it";
    }

    @Override
    public void close() {
        if (owned) {
            image.close();
        }
    }
}
