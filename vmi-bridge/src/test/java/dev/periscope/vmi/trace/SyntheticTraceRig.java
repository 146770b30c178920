package dev.periscope.vmi.trace;

import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.SyntheticGuest;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingTestProducer;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The trace machinery of one VM with no VM under it, for tests here and in other modules: a synthetic guest (init 1,
 * sh 300 and busy 400, read by the real task walker), the real event ring in a temporary file, the test producer
 * standing in for the hypervisor extension on vCPU 0 (it reports syscall returns, as the QEMU plugin does), and a
 * {@link TraceHub} over them. Tests open sessions with {@link #open}, make the "guest" run with {@link #producer()}
 * ({@link #call} for a call and its return) and change its processes through {@link #guest()}. Its methods may be
 * called from any thread: the guest serializes its changes with the ring thread's walks.
 */
public final class SyntheticTraceRig implements AutoCloseable {

    public static final long SYSCALL_ENTRY = 0xffffffff81e00000L;
    public static final long FORK_HOOK = 0xffffffff810c5a00L;
    public static final long SYSCALL_EXIT = 0xffffffff81a48860L;
    /** The kernel stack page of a process's (single) thread: its key in entry and return records. */
    private static final long STACKS = 0xffffc90000400000L;

    private final Path dir;
    private final SyntheticGuest guest = new SyntheticGuest(8 << 20);
    private final Map<Integer, Long> tasks = new ConcurrentHashMap<>();
    private final EventRing ring;
    private final RingTestProducer producer;
    private final TraceHub hub;
    private final Object stallLock = new Object();
    private boolean walksStalled; // guarded by stallLock
    private boolean walkBlocked; // guarded by stallLock

    public SyntheticTraceRig(String vm) {
        this(vm, 1024);
    }

    /** A rig whose ring holds {@code laneCapacity} records (a power of two) before the producer drops. */
    public SyntheticTraceRig(String vm, int laneCapacity) {
        add(1, "init", 0);
        add(300, "sh", 1);
        add(400, "busy", 1);
        guest.link(guest.task(2, "kthreadd", 0, true, null));
        try {
            dir = Files.createTempDirectory("periscope-rig");
            ring = EventRing.create(dir.resolve(vm + ".ring"), 1, laneCapacity, RingToken.random());
            producer = new RingTestProducer(ring.path(), 0);
            producer.advertiseSyscallExits();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        hub = new TraceHub(vm, ring, this::walk, new SyscallDecoder(SyscallTable.builtin(), guest.memory, false),
                SYSCALL_ENTRY, SYSCALL_EXIT, FORK_HOOK, 1);
    }

    /** The ring thread's process-list walk; it blocks while walks are stalled. */
    private List<GuestProcess> walk() {
        synchronized (stallLock) {
            while (walksStalled) {
                walkBlocked = true;
                try {
                    stallLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            walkBlocked = false;
        }
        return guest.processes();
    }

    /**
     * Makes the guest's process walks block (true) or go on (false): the ring thread stalls in its next walk, as it
     * would on a guest read that hangs, and answers no synchronous record meanwhile.
     */
    public void stallWalks(boolean stalled) {
        synchronized (stallLock) {
            walksStalled = stalled;
            stallLock.notifyAll();
        }
    }

    /** Whether a walk is blocked by {@link #stallWalks} now. */
    public boolean walkStalled() {
        synchronized (stallLock) {
            return walkBlocked;
        }
    }

    /** Adds a user process {@code pid} (comm {@code name}) as a child of {@code parent} (0: of init itself). */
    public long add(int pid, String name, int parent) {
        return add(pid, name, parent, name + "\0");
    }

    /** As {@link #add(int, String, int)}, with the command line {@code argv} (NUL-separated). */
    public long add(int pid, String name, int parent, String argv) {
        long task = guest.spawn(pid, name, parent == 0 ? 0 : tasks.get(parent), argv);
        tasks.put(pid, task);
        return task;
    }

    /** The address space (DTB) process {@code pid} runs in. */
    public long dtb(int pid) {
        return guest.dtbOf(tasks.get(pid));
    }

    /** Gives process {@code pid} a fresh address space, as execve does; returns its new DTB. */
    public long exec(int pid) {
        return guest.exec(tasks.get(pid));
    }

    /** Makes process {@code pid} exit (it leaves the task list). */
    public void exit(int pid) {
        guest.exit(tasks.remove(pid));
    }

    public TraceSession open(TraceRequest request) {
        return hub.open(request);
    }

    public TraceHub hub() {
        return hub;
    }

    public EventRing ring() {
        return ring;
    }

    public RingTestProducer producer() {
        return producer;
    }

    public SyntheticGuest guest() {
        return guest;
    }

    /**
     * A syscall {@code nr} entered by process {@code pid} (its first argument 1), asynchronously, without a thread
     * key: the trace emits it at once, its result not traced.
     */
    public void syscall(int pid, int nr) {
        producer.syscall(dtb(pid), nr, new long[] {1, 0, 0, 0, 0, 0}, false);
    }

    /** Process {@code pid}'s thread enters syscall {@code nr} with {@code args}, asynchronously (M5). */
    public void enter(int pid, int nr, long... args) {
        producer.syscall(dtb(pid), nr, args, false, thread(pid), -1, null);
    }

    /** Process {@code pid}'s thread returns {@code ret} from syscall {@code nr}, asynchronously (M5). */
    public void returns(int pid, int nr, long ret) {
        producer.syscallExit(dtb(pid), thread(pid), nr, ret, false, -1, null);
    }

    /** A whole call of process {@code pid}: entry and return. */
    public void call(int pid, int nr, long ret, long... args) {
        enter(pid, nr, args);
        returns(pid, nr, ret);
    }

    /** The thread key of process {@code pid}'s thread. */
    public static long thread(int pid) {
        return STACKS + ((long) pid << 14);
    }

    @Override
    public void close() {
        stallWalks(false);
        hub.shutdown(TraceEnd.of(TraceEnd.Reason.ENGINE_CLOSED));
        producer.close();
        ring.close();
        try {
            Files.deleteIfExists(ring.path());
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
