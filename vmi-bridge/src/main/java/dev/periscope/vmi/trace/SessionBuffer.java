package dev.periscope.vmi.trace;

import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.util.concurrent.Queues;

/**
 * One session's bounded event buffer between the VM's ring thread and the session's subscriber: a unicast sink over a
 * fixed-size queue. When the subscriber is slower than the guest, events are dropped and counted, never buffered
 * without bound; the next event that fits is preceded by a {@link TraceEvent.Dropped} marker per place events were
 * lost. A marker that finds no room (the ring's, or this buffer's own) is not lost as one event: its count waits for
 * the next marker of its site, reported as soon as the subscriber made room ({@link #reportLosses()}). The queue keeps room beyond {@code capacity} for those markers and the session's end,
 * so every loss is reported and the end always arrives. Emission is serialised (the ring thread, or a closing caller)
 * by this object's monitor.
 */
final class SessionBuffer {

    private static final TraceEvent.DropSite[] SITES = TraceEvent.DropSite.values();

    private final int capacity;
    private final Sinks.Many<TraceEvent> sink;
    /** Losses not yet reported, by where they happened. */
    private final long[] pending = new long[SITES.length];
    private final AtomicLong taken = new AtomicLong();
    private long put;
    private volatile boolean unreported;
    private volatile long emitted;
    private volatile long dropped;
    private boolean completed;

    SessionBuffer(int capacity) {
        this.capacity = capacity;
        this.sink = Sinks.many().unicast().onBackpressureBuffer(
                Queues.<TraceEvent>get(capacity + SITES.length + 1).get());
    }

    Flux<TraceEvent> flux() {
        return sink.asFlux().doOnNext(e -> taken.incrementAndGet());
    }

    /** Offers one event; false when it was dropped (buffer full, counted) or nobody will read it. */
    synchronized boolean emit(TraceEvent e) {
        if (completed) {
            return false;
        }
        if (put - taken.get() >= capacity) {
            lose(e);
            return false;
        }
        return report(e.timestampNs()) && offer(e);
    }

    /**
     * Reports unreported losses now if the subscriber made room since (a burst's last losses would otherwise wait for
     * the guest's next event). Cheap when there is nothing to report: the ring thread calls it whenever it idles.
     */
    void reportLosses() {
        if (unreported) {
            synchronized (this) {
                if (!completed && put - taken.get() < capacity) {
                    report(System.nanoTime());
                }
            }
        }
    }

    /** A loss: a marker's count waits for the next marker of its site, any other event counts as one. */
    private void lose(TraceEvent e) {
        unreported = true;
        if (e instanceof TraceEvent.Dropped d) {
            pending[d.site().ordinal()] += d.count();
        } else {
            pending[TraceEvent.DropSite.SESSION_BUFFER.ordinal()]++;
            dropped++;
        }
    }

    /** Emits a marker for every site with unreported losses (the queue keeps room for them); false when cancelled. */
    private boolean report(long timestampNs) {
        for (TraceEvent.DropSite site : SITES) {
            long count = pending[site.ordinal()];
            if (count > 0) {
                if (!offer(new TraceEvent.Dropped(timestampNs, count, site))) {
                    return false;
                }
                pending[site.ordinal()] = 0;
            }
        }
        unreported = false;
        return true;
    }

    private boolean offer(TraceEvent e) {
        if (sink.tryEmitNext(e).isSuccess()) {
            put++;
            emitted++;
            return true;
        }
        return false; // cancelled or terminated: nobody will ever read it, not a loss worth a marker
    }

    /** Reports what is still unreported, emits {@code last} (there is always room for both) and completes. */
    synchronized void complete(TraceEvent last) {
        if (completed) {
            return;
        }
        if (report(last == null ? 0 : last.timestampNs()) && last != null) {
            offer(last);
        }
        completed = true;
        sink.tryEmitComplete();
    }

    long emitted() {
        return emitted;
    }

    long dropped() {
        return dropped;
    }
}
