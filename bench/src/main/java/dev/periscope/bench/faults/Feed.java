package dev.periscope.bench.faults;

import dev.periscope.bench.RateProducer;
import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.time.Duration;

/**
 * A synthetic guest making syscalls: syscall records of process 300 written into the fake agent's ring, at a set rate
 * ({@link #start}, the benchmarks' {@link RateProducer}) or as a burst, counting what it wrote and what the ring had no
 * room for. The hypervisor extension's side of the fakes' traces.
 */
final class Feed implements AutoCloseable {

    static final int PID = 300;
    private static final long[] ARGS = {1, 0, 0, 0, 0, 0};

    private final SyntheticTraceRig rig;
    private final long dtb;
    private long written;
    private long ringFull;
    private RateProducer producer;

    Feed(SyntheticTraceRig rig) {
        this.rig = rig;
        this.dtb = rig.dtb(PID);
    }

    /** Makes {@code rate} syscalls a second on a thread of its own until {@link #stop()}. */
    Feed start(long rate) {
        producer = new RateProducer(rig, PID, rate);
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
            written++;
            return true;
        }
        ringFull++;
        return false;
    }

    /** Stops the rate's thread, if it runs, and counts what it made. */
    void stop() {
        if (producer == null) {
            return;
        }
        try {
            producer.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        written += producer.written();
        ringFull += producer.ringFull();
        producer = null;
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

    /** Syscalls made: written, and lost for want of room (the rate's thread's, once stopped). */
    long made() {
        return written + ringFull;
    }

    long ringFull() {
        return ringFull;
    }

    @Override
    public void close() {
        stop();
    }
}
