package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A synthetic Linux guest: kernel page tables mapping the direct map (2 MiB pages), task_structs with the small
 * offsets of {@link #OFFSETS}, creds, mms with their own page tables holding argv, a PID table
 * ({@code init_pid_ns.idr}, an xarray rebuilt from the registered pids by {@link #publishPidTable()}), and on
 * request the kthread and workqueue worker structures behind the names /proc shows. Objects are bump-allocated
 * from the bottom of RAM, page tables from the top. Public for other packages' tests (the trace machinery reads
 * its processes through the real task walker): build tasks with {@link #task}, {@link #link} them (or
 * {@link #spawn} a process in one step), read them with {@link #processes()}.
 *
 * <p>Its public methods are synchronized: a trace's ring thread walks the guest while the test thread changes it, and a
 * walk writes too (it publishes the PID table from the bump allocator). The package's own builders are for one thread.
 */
public final class SyntheticGuest {

    static final long DIRECT_MAP = 0xffff888000000000L;
    static final long P = 1, RW = 2, PS = 1 << 7, US = 4;
    static final long ARGV_VA = 0x7ffc00001000L;
    /** Offsets of kthread, worker, pool, attrs and workqueue: those of Debian's 6.1. */
    static final KernelOffsets.Names NAMES = new KernelOffsets.Names(0xa0, 104, 24, 16, 72, 116, 24, 108, 144, 4,
            12, 720, 0, 176, 24);
    static final KernelOffsets.PidTable PID_TABLE = new KernelOffsets.PidTable(8, 0, 40, 64, 16, 96, 0xb0);
    static final KernelOffsets OFFSETS = new KernelOffsets(0x10, 0x20, 0x24, 0x28, 0x30, 0x40, 0x50, 0x58, 0x60,
            0x68, 0x70, 0x74, 0x78, 0x80, 0x88, 0x90, -1, 0x08, 0x100, 0x10, 4, 8, 0x10, 0x20, 0x28, 0x30, 0x38, 0,
            8, NAMES, PID_TABLE);
    static final int XA_NODE_BYTES = 576;

    public final ByteArrayPhysicalMemory memory;
    final int size;
    final long kernelDtb;
    long nextObject = 0x1000;
    long nextTable;
    final long initTask;
    final long initPidNs;
    /** pid number to its struct pid, as the PID table will hold them. */
    final Map<Integer, Long> pids = new TreeMap<>();
    String release = "6.1.0-synthetic";

    public SyntheticGuest(int ramBytes) {
        size = ramBytes;
        memory = ByteArrayPhysicalMemory.ofSize(ramBytes);
        nextTable = ramBytes;
        kernelDtb = table();
        // direct map of all RAM with 2 MiB pages
        long pdpt = table(), pd = table();
        memory.writeLong(kernelDtb + 8 * index(DIRECT_MAP, 4), pdpt | P | RW);
        memory.writeLong(pdpt + 8 * index(DIRECT_MAP, 3), pd | P | RW);
        for (long pa = 0; pa < ramBytes; pa += 1 << 21) {
            memory.writeLong(pd + 8 * index(DIRECT_MAP + pa, 2), pa | P | RW | PS);
        }
        initPidNs = alloc(64);
        initTask = task(0, "swapper/0", 0, true, null);
        long head = initTask + OFFSETS.taskTasks();
        memory.writeLong(pa(head), head);
        memory.writeLong(pa(head + 8), head);
    }

    static long index(long va, int level) {
        return (va >>> (12 + 9 * (level - 1))) & 0x1ff;
    }

    long table() {
        nextTable -= 4096;
        return nextTable;
    }

    /** Allocates {@code bytes} in the direct map; returns its kernel virtual address. */
    long alloc(int bytes) {
        long pa = nextObject;
        nextObject = (nextObject + bytes + 63) & ~63L;
        if (nextObject >= nextTable) {
            throw new IllegalStateException("synthetic RAM full");
        }
        return DIRECT_MAP + pa;
    }

    static long pa(long va) {
        return va - DIRECT_MAP;
    }

    /** The profile of this guest; its symbols hold init_pid_ns (and nothing else). */
    public KernelProfile profile() {
        SymbolTable symbols = new SymbolTable(new String[] {"init_pid_ns"}, new long[] {initPidNs},
                new boolean[] {false}, 0);
        return new KernelProfile("Linux version " + release, release, 0, 0, DIRECT_MAP, kernelDtb, false, initTask,
                symbols, OFFSETS, 0, Duration.ZERO, false);
    }

    /** A walker over this guest with the PID table published first. */
    TaskWalker walker() {
        return walker(ThreadDetail.IDS);
    }

    TaskWalker walker(ThreadDetail detail) {
        publishPidTable();
        return new TaskWalker(memory, new X86AddressSpace(memory, kernelDtb, false), profile(), detail);
    }

    /** A task_struct with cred, signal (its own thread list) and, unless a kernel thread, an mm with argv. */
    public synchronized long task(int pid, String comm, int uid, boolean kthread, String argv) {
        long t = alloc((int) OFFSETS.taskStructSize());
        memory.writeInt(pa(t + OFFSETS.taskPid()), pid);
        memory.writeInt(pa(t + OFFSETS.taskTgid()), pid);
        memory.writeLong(pa(t + OFFSETS.taskGroupLeader()), t);
        registerPid(pid, t);
        byte[] c = comm.getBytes(StandardCharsets.ISO_8859_1);
        memory.write(pa(t + OFFSETS.taskComm()), Arrays.copyOf(c, Math.min(16, c.length)));
        long cred = alloc(16);
        memory.writeInt(pa(cred + OFFSETS.credUid()), uid);
        memory.writeInt(pa(cred + OFFSETS.credGid()), uid);
        memory.writeLong(pa(t + OFFSETS.taskCred()), cred);
        memory.writeLong(pa(t + OFFSETS.taskRealCred()), cred);
        memory.writeLong(pa(t + OFFSETS.taskRealParent()), initTask == 0 ? t : initTask);
        memory.writeInt(pa(t + OFFSETS.taskState()), 1); // S
        memory.writeLong(pa(t + OFFSETS.taskStartTime()), 1_000_000L * pid);
        long signal = alloc(64);
        long threadHead = signal + OFFSETS.signalThreadHead();
        long node = t + OFFSETS.taskThreadNode();
        memory.writeLong(pa(threadHead), node);
        memory.writeLong(pa(threadHead + 8), node);
        memory.writeLong(pa(node), threadHead);
        memory.writeLong(pa(node + 8), threadHead);
        memory.writeLong(pa(t + OFFSETS.taskSignal()), signal);
        if (kthread) {
            memory.writeInt(pa(t + OFFSETS.taskFlags()), TaskWalker.PF_KTHREAD);
        } else {
            long mm = alloc(64);
            long userPgd = table();
            long pdpt = table(), pd = table(), pt = table();
            memory.writeLong(userPgd + 8 * index(ARGV_VA, 4), pdpt | P | RW | US);
            memory.writeLong(pdpt + 8 * index(ARGV_VA, 3), pd | P | RW | US);
            memory.writeLong(pd + 8 * index(ARGV_VA, 2), pt | P | RW | US);
            long page = pa(alloc(8192)) + 4095 & ~4095L;
            memory.writeLong(pt + 8 * index(ARGV_VA, 1), page | P | RW | US);
            byte[] a = argv.getBytes(StandardCharsets.ISO_8859_1);
            memory.write(page, a);
            memory.writeLong(pa(mm + OFFSETS.mmPgd()), DIRECT_MAP + userPgd);
            memory.writeLong(pa(mm + OFFSETS.mmArgStart()), ARGV_VA);
            memory.writeLong(pa(mm + OFFSETS.mmArgEnd()), ARGV_VA + a.length);
            memory.writeLong(pa(t + OFFSETS.taskMm()), mm);
        }
        return t;
    }

    /**
     * A user process as fork makes it: its task built, its parent set ({@code 0}: init_task) and linked at the tail of
     * the task list, in one step that no concurrent {@link #processes()} sees half done.
     */
    public synchronized long spawn(int pid, String comm, long parent, String argv) {
        long task = task(pid, comm, 0, false, argv);
        if (parent != 0) {
            setParent(task, parent);
        }
        link(task);
        return task;
    }

    /** Appends a task at the tail of init_task.tasks. */
    public synchronized void link(long task) {
        long head = initTask + OFFSETS.taskTasks();
        long node = task + OFFSETS.taskTasks();
        long tail = memory.readLong(pa(head + 8));
        memory.writeLong(pa(tail), node);
        memory.writeLong(pa(node + 8), tail);
        memory.writeLong(pa(node), head);
        memory.writeLong(pa(head + 8), node);
    }

    /** Adds a thread to a leader's thread group; returns its task. */
    long thread(long leader, int tid) {
        long t = alloc((int) OFFSETS.taskStructSize());
        memory.writeInt(pa(t + OFFSETS.taskPid()), tid);
        memory.writeInt(pa(t + OFFSETS.taskTgid()), memory.readInt(pa(leader + OFFSETS.taskTgid())));
        memory.writeLong(pa(t + OFFSETS.taskGroupLeader()), leader);
        memory.write(pa(t + OFFSETS.taskComm()), Arrays.copyOf(("t" + tid).getBytes(StandardCharsets.US_ASCII), 16));
        memory.writeInt(pa(t + OFFSETS.taskState()), 1);
        registerPid(tid, t);
        long signal = memory.readLong(pa(leader + OFFSETS.taskSignal()));
        long head = signal + OFFSETS.signalThreadHead();
        long node = t + OFFSETS.taskThreadNode();
        long tail = memory.readLong(pa(head + 8));
        memory.writeLong(pa(tail), node);
        memory.writeLong(pa(node + 8), tail);
        memory.writeLong(pa(node), head);
        memory.writeLong(pa(head + 8), node);
        return t;
    }

    public synchronized void setParent(long task, long parent) {
        memory.writeLong(pa(task + OFFSETS.taskRealParent()), parent);
    }

    void setNext(long task, long value) {
        memory.writeLong(pa(task + OFFSETS.taskTasks()), value);
    }

    /** Unlinks a task from the task list as list_del_init does (a DKOM rootkit's move): it then points at itself. */
    public synchronized void unlink(long task) {
        long node = task + OFFSETS.taskTasks();
        long next = memory.readLong(pa(node)), prev = memory.readLong(pa(node + 8));
        memory.writeLong(pa(prev), next);
        memory.writeLong(pa(next + 8), prev);
        memory.writeLong(pa(node), node);
        memory.writeLong(pa(node + 8), node);
    }

    /** A task exits: it leaves the task list and the PID table. */
    public synchronized void exit(long task) {
        unlink(task);
        pids.remove(memory.readInt(pa(task + OFFSETS.taskPid())));
    }

    /** Allocates the task's struct pid (PIDTYPE_PID names it) and registers it for the PID table; pid 0 has none. */
    private void registerPid(int nr, long task) {
        if (nr <= 0) {
            return;
        }
        long pid = alloc(128);
        long links = task + PID_TABLE.taskPidLinks();
        memory.writeLong(pa(pid + PID_TABLE.pidTasks()), links);
        memory.writeInt(pa(pid + PID_TABLE.pidNumber()), nr);
        memory.writeLong(pa(links + 8), pid + PID_TABLE.pidTasks()); // pprev
        pids.put(nr, pid);
    }

    /** Writes init_pid_ns.idr as an xarray of the registered pids (fresh nodes each time). */
    void publishPidTable() {
        if (pids.isEmpty()) {
            memory.writeLong(pa(initPidNs + PID_TABLE.nsXaHead()), 0);
            return;
        }
        int max = pids.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow();
        int shift = 0;
        while ((max >>> (shift + 6)) != 0) {
            shift += 6;
        }
        memory.writeLong(pa(initPidNs + PID_TABLE.nsXaHead()), node(shift, 0) | 2);
    }

    /** One xa_node covering indices base .. base + 64 << shift; returns its address. */
    private long node(int shift, long base) {
        long node = alloc(XA_NODE_BYTES);
        memory.writeByte(pa(node + PID_TABLE.nodeShift()), shift);
        for (int i = 0; i < 64; i++) {
            long from = base + ((long) i << shift), to = from + (1L << shift);
            boolean any = pids.keySet().stream().anyMatch(nr -> nr >= from && nr < to);
            if (!any) {
                continue;
            }
            long slot = shift == 0 ? pids.get((int) from) : node(shift - 6, from) | 2;
            memory.writeLong(pa(node + PID_TABLE.nodeSlots() + 8L * i), slot);
        }
        return node;
    }

    /** A kthread struct for a kernel thread, with a full name when {@code fullName} is not null. */
    long kthread(long task, String fullName) {
        long kthread = alloc(128);
        memory.writeLong(pa(task + NAMES.taskKthread()), kthread);
        if (fullName != null) {
            long name = alloc(fullName.length() + 1);
            memory.write(pa(name), fullName.getBytes(StandardCharsets.ISO_8859_1));
            memory.writeLong(pa(kthread + NAMES.kthreadFullName()), name);
        }
        return kthread;
    }

    /**
     * Makes a kernel thread a workqueue worker (PF_WQ_WORKER) of a pool on {@code cpu} (-1: unbound pool
     * {@code poolId}), with its last workqueue {@code desc}, busy or idle, optionally the rescuer of {@code rescueWq}.
     */
    long worker(long task, int id, int cpu, int poolId, int nice, String desc, boolean busy, String rescueWq) {
        long kthread = kthread(task, null);
        long worker = alloc(192), pool = alloc(768), attrs = alloc(64);
        memory.writeLong(pa(kthread + NAMES.kthreadData()), worker);
        memory.writeInt(pa(task + OFFSETS.taskFlags()), TaskWalker.PF_KTHREAD | TaskNames.PF_WQ_WORKER);
        memory.writeLong(pa(worker + NAMES.workerPool()), pool);
        memory.writeInt(pa(worker + NAMES.workerId()), id);
        memory.write(pa(worker + NAMES.workerDesc()), Arrays.copyOf(desc.getBytes(StandardCharsets.US_ASCII), 24));
        memory.writeLong(pa(worker + NAMES.workerCurrentWork()), busy ? DIRECT_MAP + 0x40 : 0);
        memory.writeInt(pa(pool + NAMES.poolCpu()), cpu);
        memory.writeInt(pa(pool + NAMES.poolId()), poolId);
        memory.writeLong(pa(pool + NAMES.poolAttrs()), attrs);
        memory.writeInt(pa(attrs + NAMES.attrsNice()), nice);
        if (rescueWq != null) {
            long wq = alloc(256);
            memory.write(pa(wq + NAMES.wqName()), Arrays.copyOf(rescueWq.getBytes(StandardCharsets.US_ASCII), 24));
            memory.writeLong(pa(worker + NAMES.workerRescueWq()), wq);
        }
        return worker;
    }

    /**
     * The synthetic base of the hostile corpus: init, kthreadd, a kernel thread with a full name, a workqueue
     * worker, a rescuer, and twenty user processes with argv (every fifth with two threads).
     */
    static SyntheticGuest standard() {
        SyntheticGuest g = new SyntheticGuest(16 << 20);
        long init = g.task(1, "init", 0, false, "/sbin/init\0");
        long kthreadd = g.task(2, "kthreadd", 0, true, null);
        g.kthread(kthreadd, null);
        long rcu = g.task(3, "rcu_tasks_kthre", 0, true, null);
        g.kthread(rcu, "rcu_tasks_kthread");
        long worker = g.task(4, "kworker/u2:1", 0, true, null);
        g.worker(worker, 1, -1, 2, 0, "events_unbound", false, null);
        long rescuer = g.task(5, "mm_percpu_wq", 0, true, null);
        g.worker(rescuer, 0, 0, 0, 0, "", false, "mm_percpu_wq");
        for (long t : new long[] {init, kthreadd, rcu, worker, rescuer}) {
            if (t != init && t != kthreadd) {
                g.setParent(t, kthreadd);
            }
            g.link(t);
        }
        for (int i = 0; i < 20; i++) {
            long t = g.task(100 + i, "worker-" + i, 1000 + i % 3, false, "/usr/bin/worker\0--id\0" + i + "\0");
            g.setParent(t, init);
            if (i % 5 == 0) {
                g.thread(t, 1000 + 2 * i);
                g.thread(t, 1001 + 2 * i);
            }
            g.link(t);
        }
        return g;
    }

    /** {@code count} user processes sharing one mm whose argv is 4096 bytes: more argv than one walk reads. */
    static SyntheticGuest argvFlood(int count) {
        SyntheticGuest g = new SyntheticGuest(32 << 20);
        long first = g.task(1, "init", 0, false, "x".repeat(4095) + "\0");
        g.link(first);
        long mm = g.memory.readLong(pa(first + OFFSETS.taskMm()));
        for (int i = 0; i < count; i++) {
            long t = g.task(2 + i, "flood-" + i, 0, true, null);
            g.memory.writeInt(pa(t + OFFSETS.taskFlags()), 0);
            g.memory.writeLong(pa(t + OFFSETS.taskMm()), mm);
            g.link(t);
        }
        return g;
    }

    /** Gives a user task a fresh address space, as execve does; returns its new DTB. */
    public synchronized long exec(long task) {
        long mm = memory.readLong(pa(task + OFFSETS.taskMm()));
        long oldPgd = pa(memory.readLong(pa(mm + OFFSETS.mmPgd())));
        long pgd = table();
        for (int i = 0; i < 512; i++) {
            memory.writeLong(pgd + 8L * i, memory.readLong(oldPgd + 8L * i));
        }
        memory.writeLong(pa(mm + OFFSETS.mmPgd()), DIRECT_MAP + pgd);
        return pgd;
    }

    /** The DTB (physical address of mm->pgd) a user task runs with. */
    public synchronized long dtbOf(long task) {
        long mm = memory.readLong(pa(task + OFFSETS.taskMm()));
        return pa(memory.readLong(pa(mm + OFFSETS.mmPgd())));
    }

    /** The processes the real task walker reads from this guest now. */
    public synchronized List<GuestProcess> processes() {
        publishPidTable();
        return LinuxModel.processes(memory, profile()).processes();
    }
}
