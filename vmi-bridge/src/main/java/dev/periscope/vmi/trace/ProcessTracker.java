package dev.periscope.vmi.trace;

import dev.periscope.vmi.linux.GuestProcess;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * What the ring thread knows of the guest's processes: the newest process list indexed by address space (DTB) and
 * by pid, re-read on demand when a record names an address space nobody knows (a fresh child, an exec), at most
 * {@link #MAX_WALKS_PER_SECOND} times a second, each unknown address space at most once until the next periodic
 * refresh (a negative cache). Confined to the ring thread, except the walk counters, which other threads read.
 */
final class ProcessTracker {

    /** DTBs compared as the hypervisor extension compares them: PCID, the PTI pair bit and bit 63 ignored. */
    static final long DTB_MASK = 0x7FFF_FFFF_FFFF_E000L;
    /** Walks on demand (unknown CR3) per second at most. */
    static final int MAX_WALKS_PER_SECOND = 200;
    /** Processes one session follows at most (the target and its descendants). */
    static final int MAX_FAMILY = 4096;

    /**
     * The processes a session traces now, and by address space (masked DTB) the lowest pid of theirs that runs in it
     * (a vfork child shares its parent's).
     */
    record Family(Set<Integer> pids, Map<Long, GuestProcess> members) {
        static final Family NONE = new Family(Set.of(), Map.of());

        Set<Long> dtbs() {
            return members.keySet();
        }
    }

    private final Supplier<List<GuestProcess>> walk;
    private final LongSupplier clock;
    private Map<Long, GuestProcess> byDtb = Map.of();
    private Map<Integer, GuestProcess> byPid = Map.of();
    private final Set<Long> unknownDtbs = new HashSet<>();
    private long windowStartNs;
    private int walksInWindow;
    private volatile long walks;
    private volatile long walkNs;

    /**
     * @param walk  reads the guest's process list (a walk of guest memory)
     * @param clock monotonic nanoseconds
     */
    ProcessTracker(Supplier<List<GuestProcess>> walk, LongSupplier clock) {
        this.walk = walk;
        this.clock = clock;
        this.windowStartNs = clock.getAsLong();
    }

    /**
     * Re-reads the process list. Forced walks always run; walks on demand ({@code force} false) are refused once
     * the per-second budget is spent.
     *
     * @return whether it walked
     */
    boolean refresh(boolean force) {
        long now = clock.getAsLong();
        if (now - windowStartNs > 1_000_000_000L) {
            windowStartNs = now;
            walksInWindow = 0;
        }
        if (!force && walksInWindow >= MAX_WALKS_PER_SECOND) {
            return false;
        }
        walksInWindow++;
        Map<Long, GuestProcess> dtbs = new HashMap<>();
        Map<Integer, GuestProcess> pids = new HashMap<>();
        for (GuestProcess p : walk.get()) {
            pids.put(p.pid(), p);
            if (!p.kernelThread() && p.cr3() != 0) {
                dtbs.putIfAbsent(p.cr3() & DTB_MASK, p);
            }
        }
        byDtb = dtbs;
        byPid = pids;
        walks++;
        walkNs += clock.getAsLong() - now;
        return true;
    }

    /**
     * A refresh on demand for an address space nobody knew: walks once per unknown DTB (until
     * {@link #forgetUnknown()}), within the budget.
     *
     * @return whether it walked
     */
    boolean refreshFor(long dtb) {
        long d = dtb & DTB_MASK;
        if (byDtb.containsKey(d) || !unknownDtbs.add(d)) {
            return false;
        }
        if (refresh(false)) {
            return true;
        }
        unknownDtbs.remove(d); // over budget: may try again later
        return false;
    }

    /** Forgets which address spaces were unknown (the periodic refresh: they may exist by now). */
    void forgetUnknown() {
        unknownDtbs.clear();
    }

    /** The process running in address space {@code dtb}, or null. */
    GuestProcess byDtb(long dtb) {
        return byDtb.get(dtb & DTB_MASK);
    }

    GuestProcess byPid(int pid) {
        return byPid.get(pid);
    }

    /**
     * The process a request names: its pid, or the lowest pid with its name (what /proc shows) or its comm.
     *
     * @throws NoSuchElementException no such process, or it is a kernel thread (no syscalls)
     */
    GuestProcess resolve(TraceRequest r, String vm) {
        GuestProcess target;
        if (r.pid() > 0) {
            target = byPid.get(r.pid());
            if (target == null) {
                throw new NoSuchElementException("no process with pid " + r.pid() + " in " + vm);
            }
        } else {
            target = byPid.values().stream()
                    .filter(p -> !p.kernelThread()
                            && (p.name().equals(r.processName()) || p.comm().equals(r.processName())))
                    .min(Comparator.comparingInt(GuestProcess::pid))
                    .orElseThrow(() -> new NoSuchElementException("no process named " + r.processName() + " in " + vm));
        }
        if (target.kernelThread()) {
            throw new NoSuchElementException("pid " + target.pid() + " in " + vm + " is a kernel thread (no syscalls)");
        }
        return target;
    }

    /** {@code root} and, with {@code children}, its descendants (bounded): pids and their address spaces. */
    Family family(int root, boolean children) {
        if (!byPid.containsKey(root)) {
            return Family.NONE;
        }
        Set<Integer> pids = new TreeSet<>();
        pids.add(root);
        if (children) {
            Map<Integer, List<Integer>> byParent = new HashMap<>();
            for (GuestProcess p : byPid.values()) {
                byParent.computeIfAbsent(p.ppid(), k -> new ArrayList<>()).add(p.pid());
            }
            ArrayDeque<Integer> todo = new ArrayDeque<>(List.of(root));
            while (!todo.isEmpty() && pids.size() < MAX_FAMILY) {
                for (int c : byParent.getOrDefault(todo.poll(), List.of())) {
                    if (c != root && pids.add(c)) {
                        todo.add(c);
                    }
                }
            }
        }
        Map<Long, GuestProcess> members = new HashMap<>();
        for (int pid : pids) {
            GuestProcess p = byPid.get(pid);
            if (!p.kernelThread() && p.cr3() != 0) {
                members.putIfAbsent(p.cr3() & DTB_MASK, p);
            }
        }
        return new Family(Set.copyOf(pids), Map.copyOf(members));
    }

    /** Process-list walks so far (any thread). */
    long walks() {
        return walks;
    }

    /** Host time those walks took (any thread). */
    long walkNanos() {
        return walkNs;
    }
}
