package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_monitor_stats;
import dev.periscope.vmi.ring.RingToken;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * A running vm_event monitor of one Xen domain: the shim's event thread writes Periscope ring records into the
 * ring file and follows the ring's control block (modes, DTB filter, breakpoints). Closing it disarms every
 * event, answers pending requests and disables the ring; if the event thread had stopped on an error (the
 * domain vanished), close reports that error after the teardown. Thread-safe.
 */
public final class XenMonitor implements AutoCloseable {
    /** What the monitor has done so far. */
    public record Stats(State state, long requests, long records, long filtered, long hypervisorSuppressed) {
    }

    /** The event thread's state. */
    public enum State { RUNNING, STOPPED, FAILED }

    private final XenDomain domain;
    private MemorySegment handle;

    private XenMonitor(XenDomain domain, MemorySegment handle) {
        this.domain = domain;
        this.handle = handle;
    }

    static XenMonitor start(XenDomain domain, Path ring, RingToken token) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            XenStatus.check(PeriscopeXen.periscope_xen_monitor_start(domain.handle(),
                    call.allocateFrom(ring.toAbsolutePath().toString()), token.high(), token.low(), out),
                    "starting the monitor of domain " + domain.domid());
            return new XenMonitor(domain, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    public synchronized Stats stats() {
        if (handle == null) {
            return new Stats(State.STOPPED, 0, 0, 0, 0);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment s = periscope_xen_monitor_stats.allocate(call);
            XenStatus.check(PeriscopeXen.periscope_xen_monitor_stats_get(handle, s), "monitor statistics");
            int st = periscope_xen_monitor_stats.state(s);
            State state = st == PeriscopeXen.PERISCOPE_XEN_MONITOR_RUNNING() ? State.RUNNING
                    : st == PeriscopeXen.PERISCOPE_XEN_MONITOR_FAILED() ? State.FAILED : State.STOPPED;
            return new Stats(state, periscope_xen_monitor_stats.requests(s), periscope_xen_monitor_stats.records(s),
                    periscope_xen_monitor_stats.filtered(s), periscope_xen_monitor_stats.hypervisor_suppressed(s));
        }
    }

    synchronized boolean isClosed() {
        return handle == null;
    }

    /** Stops the monitor; throws the error that had stopped its event thread, if any (after tearing down). */
    @Override
    public synchronized void close() {
        if (handle == null) {
            return;
        }
        MemorySegment h = handle;
        handle = null;
        XenStatus.check(PeriscopeXen.periscope_xen_monitor_stop(h), "monitor of domain " + domain.domid());
    }
}
