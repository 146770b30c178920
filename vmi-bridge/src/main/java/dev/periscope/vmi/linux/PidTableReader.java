package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.paging.AddressSpace;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads the PID table of the initial PID namespace ({@code init_pid_ns.idr}): an xarray whose leaves are
 * {@code struct pid}, each naming the task that holds it as PIDTYPE_PID. This is how {@code /proc}, {@code kill}
 * and {@code find_task_by_vpid} reach a task, independently of the task list a rootkit unlinks from.
 *
 * <p>The tree is guest data: node pointers are checked (canonical kernel address, aligned, mapped), each child's
 * shift must be its parent's minus the bits of one level, every node is visited once, and the walk stops after
 * {@link #MAX_NODES} nodes or {@link #MAX_ENTRIES} entries. A slot that cannot be read is skipped and counted.
 */
final class PidTableReader {

    static final int MAX_NODES = 70_000;
    static final int MAX_ENTRIES = 4 * TaskWalker.MAX_TASKS;
    /** xa_is_node: an internal entry ((e & 3) == 2) above 4096; smaller internal entries are sibling/retry/zero. */
    private static final long XA_NODE_MIN = 4096;
    private static final int MAX_SHIFT = 63;

    /** One PID table entry: a pid number in the initial namespace and the task holding it as PIDTYPE_PID. */
    record Entry(int nr, long task) {
    }

    /** The entries read, and how many slots or pids could not be read (the table then was partly skipped). */
    record Table(List<Entry> entries, int unreadable, boolean truncated) {
    }

    private final AddressSpace kernel;
    private final KernelPointers pointers;
    private final KernelOffsets.PidTable o;
    private final int levelBits;

    PidTableReader(KernelPointers pointers, KernelOffsets.PidTable offsets) {
        this.kernel = pointers.space();
        this.pointers = pointers;
        this.o = offsets;
        this.levelBits = Integer.numberOfTrailingZeros(offsets.nodeSlotCount());
    }

    /**
     * Reads the table of the namespace at {@code initPidNs}.
     *
     * @throws dev.periscope.vmi.VmiException the table's root cannot be read
     */
    Table read(long initPidNs) {
        List<Entry> entries = new ArrayList<>();
        long head = kernel.readLong(initPidNs + o.nsXaHead());
        int unreadable = 0;
        boolean truncated = false;
        if (isNode(head)) {
            Set<Long> seen = new HashSet<>();
            Deque<long[]> pending = new ArrayDeque<>(); // {node, expected shift or -1 for the root}
            pending.push(new long[] {head - 2, -1});
            while (!pending.isEmpty()) {
                long[] next = pending.pop();
                long node = next[0];
                if (seen.size() >= MAX_NODES || entries.size() >= MAX_ENTRIES) {
                    truncated = true;
                    break;
                }
                if (!seen.add(node)) {
                    unreadable++; // a node reached twice: a hostile tree is not a tree
                    continue;
                }
                long[] slots = new long[o.nodeSlotCount()];
                int shift;
                try {
                    pointers.check(node, "xa_node");
                    shift = kernel.readByte(node + o.nodeShift()) & 0xff;
                    if (shift > MAX_SHIFT || shift % levelBits != 0 || next[1] >= 0 && shift != next[1]) {
                        throw new GuestDataException("xa_node shift " + shift + " does not fit its place in the tree");
                    }
                    for (int i = 0; i < slots.length; i++) {
                        slots[i] = kernel.readLong(node + o.nodeSlots() + 8L * i);
                    }
                } catch (GuestDataException | PageNotPresentException e) {
                    unreadable++;
                    continue;
                }
                for (int i = slots.length - 1; i >= 0; i--) {
                    long slot = slots[i];
                    if (isNode(slot)) {
                        if (shift == 0) {
                            unreadable++; // a leaf level cannot hold nodes
                        } else {
                            pending.push(new long[] {slot - 2, shift - levelBits});
                        }
                    } else if (shift == 0 || !isPid(slot)) {
                        unreadable += addPid(slot, entries);
                    } else {
                        unreadable++; // a pid above the leaf level would have an index the tree cannot express
                    }
                }
            }
        } else {
            unreadable += addPid(head, entries);
        }
        return new Table(List.copyOf(entries), unreadable, truncated);
    }

    private static boolean isNode(long entry) {
        return (entry & 3) == 2 && Long.compareUnsigned(entry, XA_NODE_MIN) > 0;
    }

    private static boolean isPid(long entry) {
        return entry != 0 && (entry & 3) == 0;
    }

    /** Adds the pid's PIDTYPE_PID task; returns 1 when the slot held something unreadable, else 0. */
    private int addPid(long slot, List<Entry> entries) {
        if (!isPid(slot)) {
            return 0; // empty, a value entry or an internal marker (sibling, retry, zero): no pid there
        }
        try {
            pointers.check(slot, "struct pid");
            long first = kernel.readLong(slot + o.pidTasks());
            if (first == 0) {
                return 0; // a pid no task holds as its pid (a process group or session id outliving its leader)
            }
            pointers.check(first, "pid task link");
            int nr = kernel.readInt(slot + o.pidNumber());
            if (entries.size() < MAX_ENTRIES) {
                entries.add(new Entry(nr, first - o.taskPidLinks()));
            }
            return 0;
        } catch (GuestDataException | PageNotPresentException e) {
            return 1;
        }
    }

}
