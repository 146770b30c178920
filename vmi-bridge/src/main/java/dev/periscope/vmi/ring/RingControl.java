package dev.periscope.vmi.ring;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The configuration Java writes into the ring's control block: delivery modes, the DTB filter set (values are
 * masked with {@code PERISCOPE_DTB_MASK}: PCID, the PTI pair bit and bit 63 ignored) and the breakpoint table.
 * Changing the breakpoint table makes the extension flush its translation cache once.
 */
public record RingControl(Set<RingMode> modes, List<Long> dtbs, List<Breakpoint> breakpoints, Duration syncTimeout) {

    public static final int MAX_DTBS = RingLayout.MAX_DTBS;
    public static final int MAX_BREAKPOINTS = RingLayout.MAX_BREAKPOINTS;

    public RingControl {
        modes = modes.isEmpty() ? Collections.unmodifiableSet(EnumSet.noneOf(RingMode.class))
                : Collections.unmodifiableSet(EnumSet.copyOf(modes));
        TreeSet<Long> masked = new TreeSet<>(Long::compareUnsigned);
        for (long d : dtbs) {
            masked.add(d & RingLayout.DTB_MASK);
        }
        if (masked.size() > MAX_DTBS) {
            throw new IllegalArgumentException("at most " + MAX_DTBS + " DTBs, got " + masked.size());
        }
        dtbs = List.copyOf(new ArrayList<>(masked));
        breakpoints = List.copyOf(breakpoints);
        if (breakpoints.size() > MAX_BREAKPOINTS) {
            throw new IllegalArgumentException("at most " + MAX_BREAKPOINTS + " breakpoints, got " + breakpoints.size());
        }
        if (syncTimeout.isNegative() || syncTimeout.toNanos() > 1_000_000_000L) {
            throw new IllegalArgumentException("sync timeout must be within 0..1 s: " + syncTimeout);
        }
    }

    /** Nothing delivered. */
    public static RingControl off() {
        return new RingControl(Set.of(), List.of(), List.of(), Duration.ofNanos(RingLayout.DEFAULT_SYNC_TIMEOUT_US * 1000L));
    }

    public RingControl withModes(RingMode... m) {
        return new RingControl(m.length == 0 ? Set.of() : EnumSet.of(m[0], m), dtbs, breakpoints, syncTimeout);
    }

    public RingControl withDtbs(List<Long> d) {
        return new RingControl(modes, d, breakpoints, syncTimeout);
    }

    public RingControl withBreakpoints(List<Breakpoint> b) {
        return new RingControl(modes, dtbs, b, syncTimeout);
    }

    public RingControl withSyncTimeout(Duration t) {
        return new RingControl(modes, dtbs, breakpoints, t);
    }

    /** Whether {@code cr3} matches the filter set as the extension compares it. */
    public boolean matches(long cr3) {
        long v = cr3 & RingLayout.DTB_MASK;
        for (long d : dtbs) {
            if (d == v) {
                return true;
            }
        }
        return false;
    }
}
