package dev.periscope.vmi.trace;

import java.util.Queue;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.util.concurrent.Queues;

/**
 * One session's bounded event buffer between the VM's ring thread and the session's subscriber: a unicast sink
 * over a fixed-size queue. When the subscriber is slower than the guest, events are dropped and counted, never
 * buffered without bound; the next event that fits is preceded by a {@link TraceEvent.Dropped} marker
 * carrying the loss. The session's end always arrives, after the events the buffer holds. Emission is serialised (the
 * ring thread, or a closing caller) by this object's monitor.
 */
final class SessionBuffer {

    private final int capacity;
    private final Queue<TraceEvent> queue;
    private final Sinks.Many<TraceEvent> sink;
    private long pendingDrops;
    private volatile long emitted;
    private volatile long dropped;
    private boolean completed;

    SessionBuffer(int capacity) {
        this.capacity = capacity;
        // two places beyond the capacity, for the end only: a buffer full when its session ends still ends with the
        // session's end and the marker before it (without them the subscriber never learns that, or why, it ended)
        this.queue = Queues.<TraceEvent>get(capacity + 2).get();
        this.sink = Sinks.many().unicast().onBackpressureBuffer(queue);
    }

    Flux<TraceEvent> flux() {
        return sink.asFlux();
    }

    /** Offers one event; false when it was dropped (buffer full). */
    synchronized boolean emit(TraceEvent e) {
        return !completed && offer(e, capacity);
    }

    /** Emits {@code last} (into the places kept for it, however full the buffer is) and completes. */
    synchronized void complete(TraceEvent last) {
        if (completed) {
            return;
        }
        if (last != null) {
            offer(last, capacity + 2);
        }
        completed = true;
        sink.tryEmitComplete();
    }

    /** Emits {@code e}, after the marker of what was lost before it, while the queue holds fewer than {@code room}. */
    private boolean offer(TraceEvent e, int room) {
        if (pendingDrops > 0) {
            Sinks.EmitResult r = put(new TraceEvent.Dropped(e.timestampNs(), pendingDrops,
                    TraceEvent.DropSite.SESSION_BUFFER), room);
            if (!r.isSuccess()) {
                return drop(r);
            }
            pendingDrops = 0;
            emitted++;
        }
        Sinks.EmitResult r = put(e, room);
        if (r.isSuccess()) {
            emitted++;
            return true;
        }
        return drop(r);
    }

    private Sinks.EmitResult put(TraceEvent e, int room) {
        return queue.size() >= room ? Sinks.EmitResult.FAIL_OVERFLOW : sink.tryEmitNext(e);
    }

    private boolean drop(Sinks.EmitResult r) {
        if (r == Sinks.EmitResult.FAIL_CANCELLED || r == Sinks.EmitResult.FAIL_TERMINATED) {
            return false; // nobody will ever read it: not a loss worth a marker
        }
        pendingDrops++;
        dropped++;
        return false;
    }

    long emitted() {
        return emitted;
    }

    long dropped() {
        return dropped;
    }
}
