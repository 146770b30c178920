package dev.periscope.vmi.trace;

import dev.periscope.vmi.ring.Breakpoint;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one VM's event ring must trap for the sessions that run on it: the union of their methods' needs (modes,
 * the DTB filter set, the syscall-entry, syscall-exit and fork breakpoints), and for M3/M4 the arming of syscall
 * delivery while a traced address space runs on some vCPU. Returns (SYSCALL_EXIT) follow the entries' synchrony and
 * are not armed: the extension reports the return of every call whose entry it delivered. Decides only; the ring
 * thread writes what it returns into the ring. Confined to the ring thread.
 */
final class RingPlan {

    private static final Logger log = LoggerFactory.getLogger(RingPlan.class);
    /** How long a synchronous event may hold a vCPU (the process walk on an unknown CR3 runs within it). */
    static final Duration SYNC_TIMEOUT = Duration.ofMillis(20);
    static final int MAX_VCPUS = 64;

    /**
     * What one session needs from the ring.
     *
     * @param dtbs the address spaces of the processes it traces now
     */
    record Need(TraceMethod method, boolean readStrings, boolean followChildren, Set<Long> dtbs) {
    }

    private final String vm;
    private final long syscallEntry;
    private final long syscallExit;
    private final long forkHook;
    private final int vcpus;
    private final long[] vcpuDtb = new long[MAX_VCPUS];
    private RingControl applied = RingControl.off();
    private Set<Long> tracedDtbs = Set.of();
    private Set<Long> armingDtbs = Set.of();
    private boolean armed;

    /**
     * @param syscallEntry address of the kernel's syscall entry
     * @param syscallExit  address of {@code syscall_exit_to_user_mode}, 0 when returns are not traced
     * @param forkHook     address of {@code wake_up_new_task} (runs in the parent before a new child's first
     *                     instruction), 0 when the kernel has none
     */
    RingPlan(String vm, long syscallEntry, long syscallExit, long forkHook, int vcpus) {
        this.vm = vm;
        this.syscallEntry = syscallEntry;
        this.syscallExit = syscallExit;
        this.forkHook = forkHook;
        this.vcpus = Math.clamp(vcpus, 1, MAX_VCPUS);
    }

    /** The union of every session's traced address spaces. */
    Set<Long> tracedDtbs() {
        return tracedDtbs;
    }

    /** Whether every CR3 write reaches Java (M3): then an unknown address space may be a child of a traced one. */
    boolean allCr3Writes() {
        return applied.modes().contains(RingMode.CR3) && !applied.modes().contains(RingMode.CR3_FILTER);
    }

    /** Whether some vCPU waits for Java on some events (the ring thread then spins rather than parks). */
    boolean synchronous() {
        return applied.modes().contains(RingMode.CR3_SYNC) || applied.modes().contains(RingMode.SYSCALL_SYNC);
    }

    /** The control last decided. */
    RingControl applied() {
        return applied;
    }

    /** The control for {@code needs}; empty when the ring already holds it. */
    Optional<RingControl> plan(Collection<Need> needs) {
        TraceMethod.Cr3 cr3 = TraceMethod.Cr3.NONE;
        TraceMethod.Syscalls sys = TraceMethod.Syscalls.NONE;
        boolean cr3Sync = false, sysSync = false, preread = false, follow = false, followSync = false;
        Set<Long> union = new TreeSet<>(Long::compareUnsigned);
        Set<Long> arming = new HashSet<>();
        for (Need n : needs) {
            TraceMethod m = n.method();
            if (m == TraceMethod.M1) {
                continue;
            }
            cr3 = m.cr3.ordinal() > cr3.ordinal() ? m.cr3 : cr3;
            sys = m.syscalls.ordinal() > sys.ordinal() ? m.syscalls : sys;
            cr3Sync |= m.cr3Sync && m.cr3 != TraceMethod.Cr3.NONE;
            sysSync |= m.syscallSync;
            preread |= m.preread && n.readStrings();
            for (long d : n.dtbs()) {
                union.add(d & ProcessTracker.DTB_MASK);
            }
            if (n.followChildren() && m.cr3 == TraceMethod.Cr3.FILTERED) {
                follow = true; // with filtered CR3 writes a child first scheduled after a stranger is invisible
                followSync |= m.cr3Sync;
            }
            if (m.syscalls == TraceMethod.Syscalls.ARMED) {
                for (long d : n.dtbs()) {
                    arming.add(d & ProcessTracker.DTB_MASK);
                }
            }
        }
        tracedDtbs = Set.copyOf(union);
        armingDtbs = Set.copyOf(arming);
        List<Long> dtbs = new ArrayList<>(union);
        if (dtbs.size() > RingControl.MAX_DTBS) {
            log.warn("{}: {} DTBs traced, the hypervisor filter holds {}: the rest are missed", vm, dtbs.size(),
                    RingControl.MAX_DTBS);
            dtbs = dtbs.subList(0, RingControl.MAX_DTBS);
        }
        armed = aTracedSpaceRuns();
        EnumSet<RingMode> modes = EnumSet.noneOf(RingMode.class);
        switch (cr3) {
            case ALL -> modes.add(RingMode.CR3);
            case FILTERED -> modes.addAll(List.of(RingMode.CR3, RingMode.CR3_FILTER));
            case NONE -> { }
        }
        if (cr3Sync) {
            modes.add(RingMode.CR3_SYNC);
        }
        switch (sys) {
            case ALL -> modes.add(RingMode.SYSCALL);
            case FILTERED -> modes.addAll(List.of(RingMode.SYSCALL, RingMode.SYSCALL_FILTER));
            case ARMED -> {
                if (armed) {
                    modes.add(RingMode.SYSCALL);
                }
            }
            case NONE -> { }
        }
        if (sysSync && sys != TraceMethod.Syscalls.NONE) {
            modes.add(RingMode.SYSCALL_SYNC);
        }
        if (preread) {
            modes.add(RingMode.PREREAD);
        }
        List<Breakpoint> bps = new ArrayList<>();
        if (sys != TraceMethod.Syscalls.NONE) {
            bps.add(Breakpoint.syscallEntry(syscallEntry));
            if (syscallExit != 0) {
                bps.add(Breakpoint.syscallExit(syscallExit));
                modes.add(RingMode.SYSCALL_EXIT);
            }
        }
        if (follow && forkHook != 0) {
            // a traced process's fork reaches Java before the child runs (synchronously for M4): its address
            // space is in the hypervisor's filter before its first instruction
            bps.add(new Breakpoint(forkHook, Breakpoint.Kind.PLAIN));
            modes.add(RingMode.BREAKPOINT);
            if (followSync) {
                modes.add(RingMode.BREAKPOINT_SYNC);
            }
        }
        return decide(modes.isEmpty() && dtbs.isEmpty() && bps.isEmpty() ? RingControl.off()
                : new RingControl(modes, dtbs, bps, SYNC_TIMEOUT));
    }

    /** A CR3 write on {@code vcpu}: {@code dtb} runs there now. */
    void running(int vcpu, long dtb) {
        if (vcpu >= 0 && vcpu < vcpuDtb.length) {
            vcpuDtb[vcpu] = dtb & ProcessTracker.DTB_MASK;
        }
    }

    /**
     * Under M3/M4, syscall delivery is armed while a traced address space runs on some vCPU and disarmed otherwise
     * (the breakpoint table stays: no translation flush).
     *
     * @return the control to write when arming flipped since the last decision; empty otherwise
     */
    Optional<RingControl> rearm() {
        if (armingDtbs.isEmpty()) {
            return Optional.empty();
        }
        boolean now = aTracedSpaceRuns();
        if (now == armed) {
            return Optional.empty();
        }
        armed = now;
        EnumSet<RingMode> modes = applied.modes().isEmpty() ? EnumSet.noneOf(RingMode.class)
                : EnumSet.copyOf(applied.modes());
        if (now) {
            modes.add(RingMode.SYSCALL);
        } else {
            modes.remove(RingMode.SYSCALL);
        }
        return decide(new RingControl(modes, applied.dtbs(), applied.breakpoints(), applied.syncTimeout()));
    }

    /** Nothing trapped; empty when the ring holds that already. */
    Optional<RingControl> off() {
        armed = false;
        tracedDtbs = Set.of();
        armingDtbs = Set.of();
        return decide(RingControl.off());
    }

    private boolean aTracedSpaceRuns() {
        for (int v = 0; v < vcpus; v++) {
            if (armingDtbs.contains(vcpuDtb[v])) {
                return true;
            }
        }
        return false;
    }

    private Optional<RingControl> decide(RingControl next) {
        if (next.equals(applied)) {
            return Optional.empty();
        }
        applied = next;
        return Optional.of(next);
    }
}
