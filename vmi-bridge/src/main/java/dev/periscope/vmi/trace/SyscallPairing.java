package dev.periscope.vmi.trace;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Predicate;

/**
 * The syscalls of traced threads that have entered and not yet returned, keyed by thread (the page of the kernel
 * stack top the hypervisor extension reports: a thread is in at most one syscall). Bounded: at most
 * {@link #MAX_PENDING} calls, the oldest given up first. Every way a call can leave without its return is counted, and
 * its sessions are told (the call shows as unfinished): a new entry of the same thread (its return was lost), the
 * table being full, its process exiting, its session ending. Returns nobody waits for (a fresh child's first return,
 * a hostile or stale key) are counted, never stored. Confined to the ring thread; counters are read by others.
 */
final class SyscallPairing {

    static final int MAX_PENDING = 4096;

    /** A call waiting for its return, and the sessions that get it. */
    record Pending(long key, TraceEvent.Syscall entry, List<TraceSession> sessions) {
    }

    /** Insertion order is age: the first entry is the oldest. */
    private final LinkedHashMap<Long, Pending> byThread = new LinkedHashMap<>();
    private final int capacity;
    private volatile long paired;
    private volatile long unmatched;
    private volatile long lost;
    private volatile long mismatched;

    SyscallPairing() {
        this(MAX_PENDING);
    }

    SyscallPairing(int capacity) {
        this.capacity = capacity;
    }

    /**
     * Remembers {@code entry} of thread {@code key} for {@code sessions}.
     *
     * @return the calls that can no longer be paired (this thread's previous call, whose return was lost; the
     *         oldest call when the table was full): the caller reports them unfinished
     */
    List<Pending> enter(long key, TraceEvent.Syscall entry, List<TraceSession> sessions) {
        List<Pending> gone = new ArrayList<>(0);
        Pending previous = byThread.remove(key);
        if (previous != null) {
            gone.add(previous);
        }
        if (byThread.size() >= capacity) {
            Iterator<Pending> oldest = byThread.values().iterator();
            gone.add(oldest.next());
            oldest.remove();
        }
        byThread.put(key, new Pending(key, entry, List.copyOf(sessions)));
        lost += gone.size();
        return gone;
    }

    /**
     * The call thread {@code key} returns from, or null when none waits (counted as unmatched when {@code traced}:
     * a return the trace should have paired).
     *
     * @param number the number the return reports; a different one than the entry's is counted (rt_sigreturn
     *               restores the number register, and is not)
     */
    Pending exit(long key, long number, boolean traced) {
        Pending p = byThread.remove(key);
        if (p == null) {
            if (traced) {
                unmatched++;
            }
            return null;
        }
        if (number != p.entry().number() && !p.entry().name().equals("rt_sigreturn")) {
            mismatched++;
        }
        paired++;
        return p;
    }

    /**
     * Gives up the calls {@code session} waits for (it ends): returns them; each stays pending for its other
     * sessions.
     */
    List<Pending> abandon(TraceSession session) {
        List<Pending> out = new ArrayList<>();
        for (Iterator<Pending> it = byThread.values().iterator(); it.hasNext(); ) {
            Pending p = it.next();
            if (!p.sessions().contains(session)) {
                continue;
            }
            out.add(p);
            if (p.sessions().size() == 1) {
                it.remove();
            }
        }
        for (Pending p : out) {
            if (p.sessions().size() > 1) {
                List<TraceSession> rest = new ArrayList<>(p.sessions());
                rest.remove(session);
                byThread.put(p.key(), new Pending(p.key(), p.entry(), List.copyOf(rest)));
            }
        }
        return out;
    }

    /** Gives up the calls for which {@code gone} holds (their process exited): removes and returns them. */
    List<Pending> abandonIf(Predicate<Pending> gone) {
        List<Pending> out = new ArrayList<>();
        for (Iterator<Pending> it = byThread.values().iterator(); it.hasNext(); ) {
            Pending p = it.next();
            if (gone.test(p)) {
                out.add(p);
                it.remove();
            }
        }
        return out;
    }

    int size() {
        return byThread.size();
    }

    /** Returns paired with their entries. */
    long paired() {
        return paired;
    }

    /** Returns of traced address spaces that no entry waited for. */
    long unmatched() {
        return unmatched;
    }

    /** Calls given up before their return: a lost return, or the table was full. */
    long lost() {
        return lost;
    }

    /** Paired returns whose number differed from their entry's (a sign of a wrong register layout). */
    long mismatched() {
        return mismatched;
    }
}
