package dev.periscope.bench;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes syscall records of one process into a synthetic guest's event ring at a set rate, as the hypervisor extension
 * would: every 50 us it writes what is due since the start (at 100,000 events/s, bursts of about 5), so the rate holds
 * without a core spinning for it (a guest's vCPUs do not spin a host core either). A record that finds the ring full
 * is counted and not retried (the hypervisor drops it too).
 */
public final class RateProducer implements AutoCloseable {

    private static final long PAUSE_NS = 50_000;

    private final AtomicLong written = new AtomicLong();
    private final AtomicLong ringFull = new AtomicLong();
    private final AtomicBoolean producing = new AtomicBoolean(true);
    private final Thread thread;

    /** Starts writing syscalls of pid {@code pid} of {@code rig} at {@code perSecond}. */
    public RateProducer(SyntheticTraceRig rig, int pid, long perSecond) {
        long dtb = rig.dtb(pid);
        long[] args = {1, 0, 0, 0, 0, 0};
        this.thread = Thread.ofPlatform().name("ring-producer").start(() -> {
            long start = System.nanoTime();
            while (producing.get()) {
                long due = (System.nanoTime() - start) * perSecond / 1_000_000_000L;
                while (written.get() + ringFull.get() < due) {
                    if (rig.producer().syscall(dtb, 0, args, false) > 0) {
                        written.incrementAndGet();
                    } else {
                        ringFull.incrementAndGet();
                    }
                }
                LockSupport.parkNanos(PAUSE_NS);
            }
        });
    }

    public long written() {
        return written.get();
    }

    public long ringFull() {
        return ringFull.get();
    }

    /** Stops writing (and waits for the writer to stop). */
    @Override
    public void close() throws InterruptedException {
        producing.set(false);
        thread.join();
    }
}
