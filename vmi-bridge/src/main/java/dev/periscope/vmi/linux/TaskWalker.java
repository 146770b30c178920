package dev.periscope.vmi.linux;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.AddressSpace;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Walks {@code init_task.tasks} and reads each process, then checks the list against the PID table
 * ({@link PidTableReader}): a live process unlinked from the list is read from there and marked
 * {@link Visibility#HIDDEN}, a listed one the table does not know is marked {@link Visibility#UNHASHED}.
 *
 * <p>Guest memory is hostile: the walk is bounded ({@link #MAX_TASKS} processes, {@link #MAX_ARGV_BYTES} of argv,
 * {@link #MAX_THREADS_PER_GROUP} threads per group and four times {@link #MAX_TASKS} in all), detects cycles,
 * checks every pointer ({@link KernelPointers}) and turns any unreadable or inconsistent structure into a warning
 * and a partial result. When the forward walk breaks, the list is walked backwards from the head to recover the
 * processes behind the break.
 *
 * <p>One walker per acquisition: it owns the translation caches it creates (the kernel's and one per process),
 * so nothing cached over an earlier snapshot or pause is reused.
 */
final class TaskWalker {

    static final int MAX_TASKS = 65_536;
    static final int MAX_THREADS_PER_GROUP = 65_536;
    static final int MAX_ARGV = 4096;
    /** argv bytes read in one walk: what a hostile guest's process list can cost in strings. */
    static final int MAX_ARGV_BYTES = 16 << 20;
    static final int MAX_WARNINGS = 100;
    static final int PF_KTHREAD = 0x00200000;
    /** Listed processes missing from the PID table that are still marked one by one (see markUnhashed). */
    static final int MAX_UNHASHED = 8;
    private static final String STATES = "RSDTtXZPI";

    /** A process list walk's result. */
    record Result(List<GuestProcess> processes, List<String> warnings) {
    }

    /** The fields of one task that both its process and its thread entry need. */
    private record Task(int pid, String name, String comm, String state, int flags) {
    }

    private final PhysicalMemory memory;
    private final AddressSpace kernel;
    private final KernelPointers pointers;
    private final KernelOffsets o;
    private final long initTask;
    private final long initPidNs;
    private final boolean fiveLevel;
    private final ThreadDetail detail;
    private final TaskNames names;
    private final List<String> warnings = new ArrayList<>();
    private int suppressed;
    private int threadBudget = MAX_TASKS * 4;
    private int argvBudget = MAX_ARGV_BYTES;
    private int argvSkipped;

    TaskWalker(PhysicalMemory memory, AddressSpace kernel, KernelProfile profile, ThreadDetail detail) {
        this.memory = memory;
        this.kernel = kernel;
        this.fiveLevel = profile.fiveLevel();
        this.pointers = new KernelPointers(kernel, fiveLevel);
        this.o = profile.offsets();
        this.initTask = profile.initTask();
        this.initPidNs = profile.symbols() == null ? 0 : profile.symbols().address("init_pid_ns").orElse(0);
        this.detail = detail;
        this.names = new TaskNames(pointers, o.names(),
                TaskNames.formatsWorkerIds(profile.symbols(), profile.release()));
    }

    static TaskWalker over(PhysicalMemory memory, KernelProfile profile, ThreadDetail detail) {
        return new TaskWalker(memory, new X86AddressSpace(memory, profile.kernelDtb(), profile.fiveLevel()), profile,
                detail);
    }

    Result walk() {
        Map<Long, GuestProcess> listed = new LinkedHashMap<>();
        Set<Long> visited = new HashSet<>();
        long head = initTask + o.taskTasks();
        visited.add(head);
        boolean complete = follow(head, o.listNext(), o.listPrev(), "next", visited, listed);
        if (!complete) {
            follow(head, o.listPrev(), o.listNext(), "prev", visited, listed);
        }
        List<GuestProcess> out = crossCheck(listed, visited);
        out.sort(Comparator.comparingInt(GuestProcess::pid));
        reportDuplicates(out);
        if (argvSkipped > 0) {
            structural("argv not read for " + argvSkipped + " processes: the walk's budget of " + (MAX_ARGV_BYTES >> 20)
                    + " MiB of argv was spent");
        }
        if (suppressed > 0) {
            warnings.add(suppressed + " further warnings suppressed");
        }
        return new Result(List.copyOf(out), List.copyOf(warnings));
    }

    /**
     * Follows one direction of the task list; true when it came back to the head. Each node's back link must name
     * the node it was reached from: a list whose two directions disagree was edited by something other than the
     * kernel's list helpers (or changed under a live read).
     */
    private boolean follow(long head, long linkOffset, long backOffset, String direction, Set<Long> visited,
                           Map<Long, GuestProcess> listed) {
        long node = pointers.readOrZero(head + linkOffset);
        if (node == 0) {
            structural("task list head init_task.tasks." + direction + " is not a readable kernel pointer (0x"
                    + Long.toHexString(rawOrZero(head + linkOffset)) + ")");
            return false;
        }
        long from = head;
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
            long back = rawOrZero(node + backOffset);
            if (back != from) {
                warn("task list links disagree at 0x" + Long.toHexString(node) + ": its " + (direction.equals("next")
                        ? "prev" : "next") + " is 0x" + Long.toHexString(back) + ", not 0x" + Long.toHexString(from));
            }
            long task = node - o.taskTasks();
            try {
                GuestProcess p = readProcess(task, Visibility.LISTED);
                if (p != null) {
                    listed.putIfAbsent(task, p);
                }
            } catch (VmiException e) {
                warn("task 0x" + Long.toHexString(task) + " unreadable: " + e.getMessage());
            }
            long next = pointers.readOrZero(node + linkOffset);
            if (next == 0) {
                structural("task list broken after 0x" + Long.toHexString(task) + " (" + direction + "): 0x"
                        + Long.toHexString(rawOrZero(node + linkOffset)) + " is not a readable kernel pointer");
                return false;
            }
            from = node;
            node = next;
        }
        return true;
    }

    /**
     * Compares the listed processes with the PID table: a group leader the table holds but the list lacks is read
     * and marked hidden (or, if it is linked between list nodes the walk saw, it joined during a live read); a
     * listed process the table does not hold is marked unhashed.
     */
    private List<GuestProcess> crossCheck(Map<Long, GuestProcess> listed, Set<Long> visited) {
        List<GuestProcess> out = new ArrayList<>(listed.values());
        if (!o.pidTable().present() || initPidNs == 0) {
            structural("PID table not cross-checked (" + (initPidNs == 0 ? "no init_pid_ns symbol"
                    : "BTF lacks the PID table's types") + "): processes unlinked from the task list cannot be found");
            return out;
        }
        PidTableReader.Table table;
        try {
            table = new PidTableReader(pointers, o.pidTable()).read(initPidNs);
        } catch (VmiException e) {
            structural("PID table unreadable (" + e.getMessage() + "): processes unlinked from the task list cannot"
                    + " be found");
            return out;
        }
        if (table.entries().isEmpty()) {
            structural("PID table holds no task (" + table.unreadable() + " entries unreadable): not cross-checked");
            return out;
        }
        if (table.truncated()) {
            structural("PID table larger than the walk's bounds: stopped after " + table.entries().size() + " pids");
        }
        if (table.unreadable() > 0) {
            warn("PID table: " + table.unreadable() + " entries unreadable");
        }
        Map<Long, Integer> tableTasks = new HashMap<>();
        table.entries().forEach(e -> tableTasks.putIfAbsent(e.task(), e.nr()));
        Set<Long> candidates = new LinkedHashSet<>();
        for (PidTableReader.Entry e : table.entries()) {
            long leader = pointers.readOrZero(e.task() + o.taskGroupLeader());
            if (leader != 0 && !listed.containsKey(leader) && tableTasks.containsKey(leader)) {
                candidates.add(leader);
            }
        }
        for (long leader : candidates) {
            if (out.size() >= MAX_TASKS) {
                structural("more than " + MAX_TASKS + " processes: PID table entries beyond it not read");
                break;
            }
            try {
                boolean onList = joinedTaskList(leader, visited);
                GuestProcess p = readProcess(leader, onList ? Visibility.LISTED : Visibility.HIDDEN);
                if (p == null) {
                    continue;
                }
                if (p.pid() != tableTasks.get(leader)) {
                    warn("task 0x" + Long.toHexString(leader) + " holds pid " + tableTasks.get(leader)
                            + " in the PID table but says " + p.pid() + ": not listed");
                    continue;
                }
                if (onList) {
                    warn("pid " + p.pid() + " (" + p.name() + ") joined the task list during the walk");
                } else {
                    structural("pid " + p.pid() + " (" + p.name() + ") is alive in the PID table but unlinked from the"
                            + " task list: hidden");
                }
                out.add(p);
            } catch (VmiException e) {
                warn("task 0x" + Long.toHexString(leader) + " from the PID table unreadable: " + e.getMessage());
            }
        }
        markUnhashed(out, tableTasks);
        return out;
    }

    /**
     * Marks the listed processes the PID table does not hold. A table that misses many of them is itself corrupt
     * (a few are missing at most while a live read races exits): then one warning says so and nothing is marked,
     * rather than flagging real processes because of a broken table.
     */
    private void markUnhashed(List<GuestProcess> out, Map<Long, Integer> tableTasks) {
        long missing = out.stream().filter(p -> p.visibility() == Visibility.LISTED
                && !tableTasks.containsKey(p.taskAddress())).count();
        if (missing > Math.max(MAX_UNHASHED, out.size() / 4)) {
            structural("PID table misses " + missing + " of " + out.size() + " listed processes: the table is corrupt,"
                    + " no process marked unhashed");
            return;
        }
        for (int i = 0; i < out.size(); i++) {
            GuestProcess p = out.get(i);
            Integer nr = tableTasks.get(p.taskAddress());
            if (p.visibility() == Visibility.LISTED && nr == null) {
                structural("pid " + p.pid() + " (" + p.name() + ") is on the task list but not in the PID table: exiting,"
                        + " or forged");
                out.set(i, withVisibility(p, Visibility.UNHASHED));
            } else if (nr != null && nr != p.pid()) {
                warn("pid " + p.pid() + " (" + p.name() + ") holds pid " + nr + " in the PID table");
            }
        }
    }

    /**
     * Whether the task is linked into the task list next to a node the walk saw (the head included): both its
     * neighbours point back at it. A task unlinked with list_del_init points at itself; one unlinked by rewriting
     * only its neighbours is not pointed back at; a ring of tasks cut off from init_task has no seen neighbour.
     */
    private boolean joinedTaskList(long task, Set<Long> visited) {
        long node = task + o.taskTasks();
        long next = pointers.readOrZero(node + o.listNext());
        long prev = pointers.readOrZero(node + o.listPrev());
        return next != 0 && prev != 0 && next != node && (visited.contains(next) || visited.contains(prev))
                && rawOrZero(next + o.listPrev()) == node && rawOrZero(prev + o.listNext()) == node;
    }

    private static GuestProcess withVisibility(GuestProcess p, Visibility visibility) {
        return new GuestProcess(p.pid(), p.ppid(), p.name(), p.comm(), p.argv(), p.uid(), p.gid(), p.state(),
                p.startTimeNs(), p.cr3(), p.kernelThread(), p.threads(), p.taskAddress(), visibility,
                p.threadDetails());
    }

    private void reportDuplicates(List<GuestProcess> sorted) {
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).pid() == sorted.get(i - 1).pid()) {
                warn("pid " + sorted.get(i).pid() + " held by more than one task (0x"
                        + Long.toHexString(sorted.get(i - 1).taskAddress()) + ", 0x"
                        + Long.toHexString(sorted.get(i).taskAddress()) + ")");
            }
        }
    }

    private GuestProcess readProcess(long task, Visibility visibility) {
        int pid = kernel.readInt(task + o.taskPid());
        int tgid = kernel.readInt(task + o.taskTgid());
        if (pid <= 0 || tgid <= 0) {
            warn("task 0x" + Long.toHexString(task) + " has pid " + pid + ", tgid " + tgid + ": not a process");
            return null;
        }
        if (pid != tgid) {
            warn("task 0x" + Long.toHexString(task) + " (pid " + pid + ") belongs to thread group " + tgid
                    + " but is not its leader: not a process");
            return null;
        }
        Task self = readTask(task, pid);
        int ppid = 0;
        long parent = pointers.readOrZero(task + o.taskRealParent());
        if (parent == 0) {
            warn("pid " + pid + ": real_parent is not a readable kernel pointer");
        } else if (parent != initTask) {
            try {
                ppid = kernel.readInt(parent + o.taskTgid());
            } catch (VmiException e) {
                warn("pid " + pid + ": real_parent unreadable: " + e.getMessage());
            }
            if (ppid < 0) {
                warn("pid " + pid + ": real_parent's tgid " + ppid + " is not a pid");
                ppid = 0;
            }
        }
        int uid = -1, gid = -1;
        long cred = pointers.readOrZero(task + o.taskRealCred());
        if (cred == 0) {
            warn("pid " + pid + ": real_cred is not a readable kernel pointer");
        } else {
            try {
                uid = kernel.readInt(cred + o.credUid());
                gid = kernel.readInt(cred + o.credGid());
            } catch (VmiException e) {
                warn("pid " + pid + ": cred unreadable: " + e.getMessage());
            }
        }
        long startTime = kernel.readLong(task + o.taskStartTime());
        long mm = kernel.readLong(task + o.taskMm());
        boolean kthread = mm == 0 || (self.flags() & PF_KTHREAD) != 0;
        long cr3 = 0;
        List<String> argv = List.of();
        if (!kthread) {
            try {
                pointers.check(mm, "mm");
                long pgd = pointers.read(mm + o.mmPgd(), "mm->pgd");
                cr3 = kernel.translate(pgd);
                argv = argv(pid, mm, cr3);
            } catch (VmiException e) {
                warn("pid " + pid + ": mm unreadable: " + e.getMessage());
            }
        }
        List<GuestThread> details = new ArrayList<>();
        List<Integer> threads = threads(task, self, details);
        return new GuestProcess(tgid, ppid, self.name(), self.comm(), argv, uid, gid, self.state(), startTime, cr3,
                kthread, threads, task, visibility, List.copyOf(details));
    }

    /** comm, the name /proc shows, state and flags of one task. */
    private Task readTask(long task, int pid) {
        byte[] commBytes = new byte[GuestStrings.COMM_LEN];
        kernel.read(task + o.taskComm(), commBytes, 0, commBytes.length);
        String comm = GuestStrings.comm(commBytes);
        int flags = kernel.readInt(task + o.taskFlags());
        String state = stateLetter(kernel.readInt(task + o.taskState()), kernel.readInt(task + o.taskExitState()));
        String name = comm;
        try {
            name = names.procName(task, flags, commBytes);
        } catch (VmiException e) {
            warn("pid " + pid + ": name unreadable, comm shown: " + e.getMessage());
        }
        return new Task(pid, name, comm, state, flags);
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
        if (length > argvBudget) {
            argvSkipped++;
            return List.of();
        }
        argvBudget -= length;
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

    /** Thread ids of the group (sorted, the leader included); with {@link ThreadDetail#FULL} each thread into details. */
    private List<Integer> threads(long leader, Task self, List<GuestThread> details) {
        int pid = self.pid();
        Map<Integer, GuestThread> byTid = new HashMap<>();
        List<Integer> tids = new ArrayList<>();
        long linkOffset;
        long head;
        try {
            if (o.hasThreadHead()) {
                long signal = pointers.readOrZero(leader + o.taskSignal());
                if (signal == 0) {
                    warn("pid " + pid + ": signal is not a readable kernel pointer");
                    head = 0;
                    linkOffset = 0;
                } else {
                    head = signal + o.signalThreadHead();
                    linkOffset = o.taskThreadNode();
                }
            } else if (o.taskThreadGroup() >= 0) {
                head = leader + o.taskThreadGroup();
                linkOffset = o.taskThreadGroup();
            } else {
                head = 0;
                linkOffset = 0;
            }
            Set<Long> seen = new HashSet<>();
            long node = head == 0 ? 0 : pointers.read(head + o.listNext(), "thread list");
            while (head != 0 && node != head) {
                if (tids.size() >= MAX_THREADS_PER_GROUP || --threadBudget < 0) {
                    warn("pid " + pid + ": thread list too long, stopped");
                    break;
                }
                if (!seen.add(node)) {
                    warn("pid " + pid + ": thread list cycle");
                    break;
                }
                long thread = node - linkOffset;
                int tid = kernel.readInt(thread + o.taskPid());
                tids.add(tid);
                if (detail == ThreadDetail.FULL && thread != leader) {
                    Task t = readTask(thread, tid);
                    byTid.putIfAbsent(tid, new GuestThread(tid, t.name(), t.comm(), t.state()));
                }
                node = pointers.read(node + o.listNext(), "thread list");
            }
        } catch (VmiException e) {
            warn("pid " + pid + ": thread list unreadable: " + e.getMessage());
        }
        if (!tids.contains(pid)) {
            tids.addFirst(pid);
        }
        tids.sort(null);
        if (detail == ThreadDetail.FULL) {
            byTid.put(pid, new GuestThread(pid, self.name(), self.comm(), self.state()));
            for (int tid : tids) {
                GuestThread t = byTid.remove(tid);
                if (t != null) {
                    details.add(t);
                }
            }
        }
        return List.copyOf(tids);
    }

    /** The 8 bytes at a kernel address for a message, 0 when unreadable. */
    private long rawOrZero(long at) {
        try {
            return kernel.readLong(at);
        } catch (VmiException e) {
            return 0;
        }
    }

    /**
     * A warning about the list itself: kept beyond the per-task cap (up to twice it), so a flood of per-task
     * warnings cannot hide it.
     */
    private void structural(String warning) {
        if (warnings.size() < 2 * MAX_WARNINGS) {
            warnings.add(warning);
        } else {
            suppressed++;
        }
    }

    private void warn(String warning) {
        if (warnings.size() < MAX_WARNINGS) {
            warnings.add(warning);
        } else {
            suppressed++;
        }
    }
}
