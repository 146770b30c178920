package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * A synthetic Linux guest: kernel page tables mapping the direct map (2 MiB pages), task_structs with the small
 * offsets of {@link #OFFSETS}, creds, mms with their own page tables holding argv. Objects are bump-allocated
 * from the bottom of RAM, page tables from the top. Public for other packages' tests (the trace machinery reads
 * its processes through the real task walker): build tasks with {@link #task}, {@link #link} them, read them with
 * {@link #processes()}.
 */
public final class SyntheticGuest {

    static final long DIRECT_MAP = 0xffff888000000000L;
    static final long P = 1, RW = 2, PS = 1 << 7, US = 4;
    static final long ARGV_VA = 0x7ffc00001000L;
    static final KernelOffsets OFFSETS = new KernelOffsets(0x10, 0x20, 0x24, 0x28, 0x30, 0x40, 0x50, 0x58, 0x60,
            0x68, 0x70, 0x74, 0x78, 0x80, 0x88, 0x90, -1, 0x08, 0x100, 0x10, 4, 8, 0x10, 0x20, 0x28, 0x30, 0x38, 0,
            8);

    public final ByteArrayPhysicalMemory memory;
    final int size;
    final long kernelDtb;
    long nextObject = 0x1000;
    long nextTable;
    final long initTask;

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

    public KernelProfile profile() {
        return new KernelProfile("Linux version 6.1.0-synthetic", "6.1.0-synthetic", 0, 0, DIRECT_MAP, kernelDtb,
                false, initTask, null, OFFSETS, 0, Duration.ZERO, false);
    }

    TaskWalker walker() {
        return new TaskWalker(memory, new X86AddressSpace(memory, kernelDtb, false), OFFSETS, initTask, false);
    }

    /** A task_struct with cred, signal (its own thread list) and, unless a kernel thread, an mm with argv. */
    public long task(int pid, String comm, int uid, boolean kthread, String argv) {
        long t = alloc((int) OFFSETS.taskStructSize());
        memory.writeInt(pa(t + OFFSETS.taskPid()), pid);
        memory.writeInt(pa(t + OFFSETS.taskTgid()), pid);
        byte[] c = comm.getBytes(StandardCharsets.ISO_8859_1);
        memory.write(pa(t + OFFSETS.taskComm()), Arrays.copyOf(c, Math.min(16, c.length)));
        long cred = alloc(16);
        memory.writeInt(pa(cred + OFFSETS.credUid()), uid);
        memory.writeInt(pa(cred + OFFSETS.credGid()), uid);
        memory.writeLong(pa(t + OFFSETS.taskCred()), cred);
        memory.writeLong(pa(t + OFFSETS.taskRealCred()), cred);
        memory.writeLong(pa(t + OFFSETS.taskRealParent()), initTask == 0 ? t : initTask);
        memory.writeLong(pa(t + OFFSETS.taskGroupLeader()), t);
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

    /** Appends a task at the tail of init_task.tasks. */
    public void link(long task) {
        long head = initTask + OFFSETS.taskTasks();
        long node = task + OFFSETS.taskTasks();
        long tail = memory.readLong(pa(head + 8));
        memory.writeLong(pa(tail), node);
        memory.writeLong(pa(node + 8), tail);
        memory.writeLong(pa(node), head);
        memory.writeLong(pa(head + 8), node);
    }

    /** Adds a thread to a leader's thread group. */
    void thread(long leader, int tid) {
        long t = alloc((int) OFFSETS.taskStructSize());
        memory.writeInt(pa(t + OFFSETS.taskPid()), tid);
        long signal = memory.readLong(pa(leader + OFFSETS.taskSignal()));
        long head = signal + OFFSETS.signalThreadHead();
        long node = t + OFFSETS.taskThreadNode();
        long tail = memory.readLong(pa(head + 8));
        memory.writeLong(pa(tail), node);
        memory.writeLong(pa(node + 8), tail);
        memory.writeLong(pa(node), head);
        memory.writeLong(pa(head + 8), node);
    }

    public void setParent(long task, long parent) {
        memory.writeLong(pa(task + OFFSETS.taskRealParent()), parent);
    }

    void setNext(long task, long value) {
        memory.writeLong(pa(task + OFFSETS.taskTasks()), value);
    }

    /** Removes a task from init_task.tasks (it exited, or a rootkit hid it). */
    public void unlink(long task) {
        long node = task + OFFSETS.taskTasks();
        long next = memory.readLong(pa(node));
        long prev = memory.readLong(pa(node + 8));
        memory.writeLong(pa(prev), next);
        memory.writeLong(pa(next + 8), prev);
    }

    /** Gives a user task a fresh address space, as execve does; returns its new DTB. */
    public long exec(long task) {
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
    public long dtbOf(long task) {
        long mm = memory.readLong(pa(task + OFFSETS.taskMm()));
        return pa(memory.readLong(pa(mm + OFFSETS.mmPgd())));
    }

    /** The processes the real task walker reads from this guest now. */
    public List<GuestProcess> processes() {
        return LinuxModel.processes(memory, profile()).processes();
    }
}
