package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A synthetic guest making syscalls: syscall records of process 300 written into the fake agent's ring, at a set rate
 * on a thread of its own ({@link #start}) or as a burst, counting what it wrote and what the ring had no room for. The
 * hypervisor extension's side of the fakes' traces.
 */
final class Feed implements AutoCloseable {

    static final int PID = 300;
    private static final long[] ARGS = {1, 0, 0, 0, 0, 0};

    private final SyntheticTraceRig rig;
    private final long dtb;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong ringFull = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean();
    private Thread thread;

    Feed(SyntheticTraceRig rig) {
        this.rig = rig;
        this.dtb = rig.dtb(PID);
    }

    /** Makes {@code rate} syscalls a second on a thread of its own until {@link #stop()}. */
    Feed start(long rate) {
        running.set(true);
        thread = Thread.ofPlatform().daemon().name("feed").start(() -> {
            long start = System.nanoTime();
            while (running.get()) {
                long due = (System.nanoTime() - start) * rate / 1_000_000_000L;
                while (running.get() && written.get() + ringFull.get() < due) {
                    one();
                }
                Thread.onSpinWait();
            }
        });
        return this;
    }

    /** Makes {@code n} syscalls at once, here. */
    void burst(int n) {
        for (int i = 0; i < n; i++) {
            one();
        }
    }

    private boolean one() {
        if (rig.producer().syscall(dtb, 1, ARGS, false) > 0) {
            written.incrementAndGet();
            return true;
        }
        ringFull.incrementAndGet();
        return false;
    }

    void stop() {
        if (running.getAndSet(false)) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The guest's next syscall once the ring has room again: a ring reports the records it had no room for with the
     * next record that fits, so a burst ends with one.
     */
    void last() {
        while (!one()) {
            Commands.sleep(Duration.ofMillis(5));
        }
    }

    /** Syscalls made: written, and lost for want of room. */
    long made() {
        return written.get() + ringFull.get();
    }

    long ringFull() {
        return ringFull.get();
    }

    @Override
    public void close() {
        stop();
    }
}
