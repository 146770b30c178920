package dev.periscope.vmi.trace;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.util.concurrent.Queues;

/**
 * One session's bounded event buffer between the VM's ring thread and the session's subscriber: a unicast sink
 * over a fixed-size queue. When the subscriber is slower than the guest, events are dropped and counted, never
 * buffered without bound; the next event that fits is preceded by a {@link TraceEvent.Dropped} marker
 * carrying the loss. Emission is serialised (the ring thread, or a closing caller) by this object's monitor.
 */
final class SessionBuffer {

    private final Sinks.Many<TraceEvent> sink;
    private long pendingDrops;
    private volatile long emitted;
    private volatile long dropped;
    private boolean completed;

    SessionBuffer(int capacity) {
        this.sink = Sinks.many().unicast().onBackpressureBuffer(Queues.<TraceEvent>get(capacity).get());
    }

    Flux<TraceEvent> flux() {
        return sink.asFlux();
    }

    /** Offers one event; false when it was dropped (buffer full). */
    synchronized boolean emit(TraceEvent e) {
        if (completed) {
            return false;
        }
        if (pendingDrops > 0) {
            Sinks.EmitResult r = sink.tryEmitNext(new TraceEvent.Dropped(e.timestampNs(), pendingDrops,
                    TraceEvent.DropSite.SESSION_BUFFER));
            if (!r.isSuccess()) {
                return drop(r);
            }
            pendingDrops = 0;
            emitted++;
        }
        Sinks.EmitResult r = sink.tryEmitNext(e);
        if (r.isSuccess()) {
            emitted++;
            return true;
        }
        return drop(r);
    }

    private boolean drop(Sinks.EmitResult r) {
        if (r == Sinks.EmitResult.FAIL_CANCELLED || r == Sinks.EmitResult.FAIL_TERMINATED) {
            return false; // nobody will ever read it: not a loss worth a marker
        }
        pendingDrops++;
        dropped++;
        return false;
    }

    /** Emits {@code last} if it fits (a full buffer keeps its events and loses the marker) and completes. */
    synchronized void complete(TraceEvent last) {
        if (completed) {
            return;
        }
        if (last != null) {
            emit(last);
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
