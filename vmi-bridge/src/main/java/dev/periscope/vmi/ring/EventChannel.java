package dev.periscope.vmi.ring;

import java.time.Duration;

/**
 * One VM's event channel from its hypervisor extension, as a platform exposes it
 * ({@link dev.periscope.vmi.driver.Domain#eventChannel()}): the lab's QEMU plugin and the Xen shim both write
 * the same ring ({@link EventRing}). Exactly one consumer thread may {@link #poll}; configuration and counters
 * may be used from any thread. The domain that handed the channel out owns and closes it.
 */
public interface EventChannel {

    /** Hands up to {@code maxRecords} records to {@code handler}; answers synchronous ones after it returns. */
    int poll(RingRecordHandler handler, int maxRecords);

    /** Publishes a new configuration (mode, DTB filter set, breakpoints); returns its generation. */
    long configure(RingControl control);

    /** The configuration last published. */
    RingControl control();

    /** Waits until every vCPU of the extension adopted the current configuration; true if it did. */
    boolean awaitApplied(Duration timeout);

    /**
     * Whether the extension traps or filters anything (a mode bit, a DTB or a breakpoint set) according to the
     * control block itself, which may hold what an earlier process published.
     */
    default boolean armed() {
        RingControl c = control();
        return !c.modes().isEmpty() || !c.dtbs().isEmpty() || !c.breakpoints().isEmpty();
    }

    /** Counters summed over all lanes. */
    RingCounters counters();

    /** Records published and not yet consumed. */
    long backlog();

    /** Number of lanes (vCPUs the extension can report for). */
    int lanes();

    /**
     * Whether the extension reports syscall returns (SYSCALL_EXIT breakpoints and records, thread keys on SYSCALL
     * records): its {@code PERISCOPE_FEATURE_SYSCALL_EXIT}. Without it a trace shows entries only.
     */
    boolean syscallExits();

    /** Whether the extension is attached now (QEMU running with the plugin). */
    boolean producerAttached();

    /** Whether the extension has detached for good (QEMU exited). */
    boolean producerDetached();

    /** Translation-cache flushes the extension performed for breakpoint table changes. */
    long flushes();

    /** Control writes the extension ignored for lack of its capability token. */
    long controlRejected();
}
