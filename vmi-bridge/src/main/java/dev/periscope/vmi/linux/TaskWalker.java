package dev.periscope.vmi.linux;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.AddressSpace;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Walks {@code init_task.tasks} and reads each process. Guest memory is hostile: the walk is bounded
 * ({@link #MAX_TASKS}), detects cycles, checks every pointer (canonical kernel address, readable) and turns any
 * unreadable or inconsistent structure into a warning and a partial result. When the forward walk breaks, the
 * list is walked backwards from the head to recover the processes behind the break.
 *
 * <p>One walker per acquisition: it owns the translation caches it creates (the kernel's and one per process),
 * so nothing cached over an earlier snapshot or pause is reused.
 */
final class TaskWalker {

    static final int MAX_TASKS = 65_536;
    static final int MAX_THREADS_PER_GROUP = 65_536;
    static final int MAX_ARGV = 4096;
    static final int MAX_WARNINGS = 100;
    static final int PF_KTHREAD = 0x00200000;
    private static final String STATES = "RSDTtXZPI";

    /** A process list walk's result. */
    record Result(List<GuestProcess> processes, List<String> warnings) {
    }

    private final PhysicalMemory memory;
    private final AddressSpace kernel;
    private final KernelOffsets o;
    private final long initTask;
    private final boolean fiveLevel;
    private final List<String> warnings = new ArrayList<>();
    private int suppressed;
    private int threadBudget = MAX_TASKS * 4;

    TaskWalker(PhysicalMemory memory, AddressSpace kernel, KernelOffsets offsets, long initTask, boolean fiveLevel) {
        this.memory = memory;
        this.kernel = kernel;
        this.o = offsets;
        this.initTask = initTask;
        this.fiveLevel = fiveLevel;
    }

    static TaskWalker over(PhysicalMemory memory, KernelProfile profile) {
        return new TaskWalker(memory, new X86AddressSpace(memory, profile.kernelDtb(), profile.fiveLevel()),
                profile.offsets(), profile.initTask(), profile.fiveLevel());
    }

    Result walk() {
        List<GuestProcess> out = new ArrayList<>();
        Set<Long> visited = new HashSet<>();
        long head = initTask + o.taskTasks();
        visited.add(head);
        boolean complete = follow(head, o.listNext(), "next", visited, out);
        if (!complete) {
            follow(head, o.listPrev(), "prev", visited, out);
        }
        out.sort(Comparator.comparingInt(GuestProcess::pid));
        if (suppressed > 0) {
            warnings.add(suppressed + " further warnings suppressed");
        }
        return new Result(List.copyOf(out), List.copyOf(warnings));
    }

    /** Follows one direction of the task list; true when it came back to the head. */
    private boolean follow(long head, long linkOffset, String direction, Set<Long> visited, List<GuestProcess> out) {
        long node;
        try {
            node = pointer(head + linkOffset, "init_task.tasks." + direction);
        } catch (VmiException e) {
            structural("task list head unreadable: " + e.getMessage());
            return false;
        }
        while (node != head) {
            if (visited.size() > MAX_TASKS) {
                structural("task list longer than " + MAX_TASKS + " entries: stopped (" + direction + ")");
                return false;
            }
            if (!visited.add(node)) {
                if (direction.equals("next")) {
                    structural("task list cycle at 0x" + Long.toHexString(node) + " (does not return to init_task)");
                }
                return false;
            }
            long task = node - o.taskTasks();
            try {
                GuestProcess p = readProcess(task);
                if (p != null) {
                    out.add(p);
                }
            } catch (VmiException e) {
                warn("task 0x" + Long.toHexString(task) + " unreadable: " + e.getMessage());
            }
            long next = pointerOrZero(node + linkOffset);
            if (next == 0) {
                structural("task list broken after 0x" + Long.toHexString(task) + " (" + direction + "): 0x"
                        + Long.toHexString(kernel.isMapped(node + linkOffset) ? kernel.readLong(node + linkOffset) : 0)
                        + " is not a readable kernel pointer");
                return false;
            }
            node = next;
        }
        return true;
    }

    private GuestProcess readProcess(long task) {
        int pid = kernel.readInt(task + o.taskPid());
        int tgid = kernel.readInt(task + o.taskTgid());
        if (pid < 0 || tgid < 0) {
            warn("task 0x" + Long.toHexString(task) + " has a negative pid");
            return null;
        }
        byte[] commBytes = new byte[16];
        kernel.read(task + o.taskComm(), commBytes, 0, 16);
        String comm = GuestStrings.comm(commBytes);
        int ppid = 0;
        long parent = pointerOrZero(task + o.taskRealParent());
        if (parent == 0) {
            warn("pid " + pid + ": real_parent is not a readable kernel pointer");
        } else if (parent != initTask) {
            ppid = kernel.readInt(parent + o.taskTgid());
        }
        int uid = -1, gid = -1;
        long cred = pointerOrZero(task + o.taskRealCred());
        if (cred == 0) {
            warn("pid " + pid + ": real_cred is not a readable kernel pointer");
        } else {
            uid = kernel.readInt(cred + o.credUid());
            gid = kernel.readInt(cred + o.credGid());
        }
        int state = kernel.readInt(task + o.taskState());
        int exitState = kernel.readInt(task + o.taskExitState());
        int flags = kernel.readInt(task + o.taskFlags());
        long startTime = kernel.readLong(task + o.taskStartTime());
        long mm = kernel.readLong(task + o.taskMm());
        boolean kthread = mm == 0 || (flags & PF_KTHREAD) != 0;
        long cr3 = 0;
        List<String> argv = List.of();
        if (!kthread) {
            try {
                checkKernelPointer(mm, "mm");
                long pgd = pointer(mm + o.mmPgd(), "mm->pgd");
                cr3 = kernel.translate(pgd);
                argv = argv(pid, mm, cr3);
            } catch (VmiException e) {
                warn("pid " + pid + ": mm unreadable: " + e.getMessage());
            }
        }
        List<Integer> threads = threads(task, pid);
        return new GuestProcess(tgid, ppid, comm, argv, uid, gid, stateLetter(state, exitState), startTime, cr3,
                kthread, threads, task);
    }

    /** The state letter /proc shows ({@code fs/proc/array.c} task_state_array, {@code __task_state_index}). */
    static String stateLetter(int state, int exitState) {
        final int taskReport = 0x7f;
        final int taskIdle = 0x0402; // TASK_UNINTERRUPTIBLE | TASK_NOLOAD
        final int rtlockWaitOrFrozen = 0x1000 | 0x8000;
        int s = (state | exitState) & taskReport;
        if ((state & taskIdle) == taskIdle) {
            s = 0x80;
        }
        if ((state & rtlockWaitOrFrozen) != 0) {
            s = 0x02;
        }
        int index = 32 - Integer.numberOfLeadingZeros(s); // fls
        return String.valueOf(STATES.charAt(Math.min(index, STATES.length() - 1)));
    }

    private List<String> argv(int pid, long mm, long cr3) {
        long start = kernel.readLong(mm + o.mmArgStart());
        long end = kernel.readLong(mm + o.mmArgEnd());
        if (start == 0 && end == 0) {
            return List.of();
        }
        if (Long.compareUnsigned(end, start) < 0 || start < 0 || end < 0) {
            warn("pid " + pid + ": implausible argv range 0x" + Long.toHexString(start) + "..0x"
                    + Long.toHexString(end));
            return List.of();
        }
        int length = (int) Math.min(end - start, MAX_ARGV);
        byte[] bytes = new byte[length];
        AddressSpace user = new X86AddressSpace(memory, cr3, fiveLevel);
        int done = 0;
        boolean missing = false;
        while (done < length) {
            long address = start + done;
            int chunk = (int) Math.min(length - done, 4096 - (address & 4095));
            try {
                user.read(address, bytes, done, chunk);
            } catch (PageNotPresentException e) {
                missing = true;
            }
            done += chunk;
        }
        if (missing) {
            warn("pid " + pid + ": argv partly not present in memory");
        }
        return GuestStrings.argv(bytes, length);
    }

    private List<Integer> threads(long leader, int pid) {
        List<Integer> tids = new ArrayList<>();
        long linkOffset;
        long head;
        try {
            if (o.hasThreadHead()) {
                long signal = pointerOrZero(leader + o.taskSignal());
                if (signal == 0) {
                    warn("pid " + pid + ": signal is not a readable kernel pointer");
                    return List.of(pid);
                }
                head = signal + o.signalThreadHead();
                linkOffset = o.taskThreadNode();
            } else if (o.taskThreadGroup() >= 0) {
                head = leader + o.taskThreadGroup();
                linkOffset = o.taskThreadGroup();
                tids.add(pid);
            } else {
                return List.of(pid);
            }
            Set<Long> seen = new HashSet<>();
            long node = pointer(head, "thread list");
            while (node != head) {
                if (tids.size() >= MAX_THREADS_PER_GROUP || --threadBudget < 0) {
                    warn("pid " + pid + ": thread list too long, stopped");
                    break;
                }
                if (!seen.add(node)) {
                    warn("pid " + pid + ": thread list cycle");
                    break;
                }
                tids.add(kernel.readInt(node - linkOffset + o.taskPid()));
                node = pointer(node, "thread list");
            }
        } catch (VmiException e) {
            warn("pid " + pid + ": thread list unreadable: " + e.getMessage());
        }
        if (!tids.contains(pid)) {
            tids.addFirst(pid);
        }
        tids.sort(null);
        return List.copyOf(tids);
    }

    /** Reads a pointer and checks it is a canonical kernel address whose page is mapped. */
    private long pointer(long at, String what) {
        long value = kernel.readLong(at);
        checkKernelPointer(value, what);
        return value;
    }

    /** Like {@link #pointer} without exceptions (hot path): 0 when unreadable or not a mapped kernel address. */
    private long pointerOrZero(long at) {
        if (!kernel.isMapped(at)) {
            return 0;
        }
        long value = kernel.readLong(at);
        return isKernelPointer(value) ? value : 0;
    }

    private boolean isKernelPointer(long value) {
        return value >> (fiveLevel ? 56 : 47) == -1 && kernel.isMapped(value);
    }

    private void checkKernelPointer(long value, String what) {
        // Kernel half of a 4-level (bits 63..47 set) or 5-level (bits 63..56 set) address space.
        long high = value >> (fiveLevel ? 56 : 47);
        if (high != -1) {
            throw new dev.periscope.vmi.GuestDataException(what + " 0x" + Long.toHexString(value)
                    + " is not a kernel address");
        }
        if (!kernel.isMapped(value)) {
            throw new PageNotPresentException(what + " points to an unmapped page", value);
        }
    }

    /** A warning about the list itself: always kept, so a capped flood of per-task warnings cannot hide it. */
    private void structural(String warning) {
        warnings.add(warning);
    }

    private void warn(String warning) {
        if (warnings.size() < MAX_WARNINGS) {
            warnings.add(warning);
        } else {
            suppressed++;
        }
    }
}
