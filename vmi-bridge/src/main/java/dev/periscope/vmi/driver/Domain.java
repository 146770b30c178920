package dev.periscope.vmi.driver;

import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.ring.EventChannel;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * An attached guest. Owns its native resources (mapped RAM, control sockets) and releases them on close.
 * Operations a platform cannot perform fail with PlatformUnavailableException and are absent from
 * {@link #capabilities()}.
 */
public interface Domain extends AutoCloseable {

    DomainInfo info();

    Set<Capability> capabilities();

    /** Live guest RAM: reads race with the running guest. */
    PhysicalMemory memory();

    VcpuRegisters registers(int vcpu);

    int vcpuCount();

    void pause();

    void resume();

    /**
     * How long the guest was stopped by the last {@link #pause()}/{@link #resume()} pair (the guest-visible cost
     * of a PAUSE read); zero when it never was or the platform cannot tell.
     */
    default Duration lastPauseDuration() {
        return Duration.ZERO;
    }

    /**
     * A consistent copy-on-write image of guest RAM taken while the guest keeps running. The caller closes it.
     */
    MemorySnapshot snapshot();

    /**
     * The VM's event channel from its hypervisor extension (CR3 writes, hypervisor breakpoints, synchronous
     * events), opened on first use and owned by this domain (closed with it); empty when the platform has none
     * for this guest ({@link Capability#CR3_EVENTS} absent). One consumer thread per channel: the engine's.
     */
    default Optional<EventChannel> eventChannel() {
        return Optional.empty();
    }

    /**
     * Closes the event channel if this domain has one open, its hypervisor side too: Xen gives a domain a single
     * vm_event ring, which another monitor (a tenant's, in its own monitoring domain) can take only once this one let
     * go. The next {@link #eventChannel()} opens a new channel. A no-op where channels are not exclusive (the lab's
     * QEMU plugin ring is a file any number of engines may open).
     *
     * @return whether a channel was open
     */
    default boolean releaseEventChannel() {
        return false;
    }

    /**
     * Why this guest has no event channel ({@link Capability#CR3_EVENTS} absent), in words for the operator; asked
     * only then.
     */
    default String eventsUnavailableReason() {
        return "its platform has no hypervisor event channel for it";
    }

    /**
     * Whether the guest is still there as far as this handle can tell without asking the platform (the lab: its
     * QEMU's monitor socket is still open); true when it cannot tell. The engine lets go of a domain that is not
     * ({@code VmiEngine.releaseStopped}).
     */
    default boolean alive() {
        return true;
    }

    @Override
    void close();
}
