package dev.periscope.session;

import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.BufferOverflowStrategy;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * The events of one session: the last {@code replay} events are kept for subscribers that (re)connect; each
 * subscriber reads through its own buffer of {@code buffer} events, and when it falls behind the oldest are
 * dropped and a {@code dropped} marker with their count is delivered before the next event. Memory is bounded
 * by {@code replay + buffer} events per subscriber, whatever the subscriber does.
 */
final class EventHub {

    private final String session;
    private final Sinks.Many<SessionEvent> sink;
    private final AtomicLong lastId = new AtomicLong();

    EventHub(String session, int replay) {
        this.session = session;
        this.sink = Sinks.many().replay().limit(replay);
    }

    /** Publishes an event with the next id. Serialised: one session's runner and its stop may race. */
    synchronized SessionEvent publish(SessionEvent.Payload data) {
        long id = lastId.updateAndGet(last -> Math.max(last + 1, System.currentTimeMillis() * 1000));
        SessionEvent event = SessionEvent.of(id, session, Instant.now(), data);
        sink.emitNext(event, Sinks.EmitFailureHandler.FAIL_FAST);
        return event;
    }

    synchronized void complete() {
        sink.tryEmitComplete();
    }

    /** Events after {@code afterId} (0 for all that are kept), through a bounded buffer with drop markers. */
    Flux<SessionEvent> subscribe(long afterId, int buffer) {
        return Flux.defer(() -> {
            AtomicLong dropped = new AtomicLong();
            return sink.asFlux()
                    .filter(event -> event.id() > afterId)
                    .onBackpressureBuffer(buffer, lost -> dropped.incrementAndGet(), BufferOverflowStrategy.DROP_OLDEST)
                    .concatMap(event -> {
                        long count = dropped.getAndSet(0);
                        return count == 0 ? Flux.just(event) : Flux.just(SessionEvent.dropped(session, count), event);
                    }, 1);
        });
    }
}
