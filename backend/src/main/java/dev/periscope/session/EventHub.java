package dev.periscope.session;

import java.time.Instant;
import java.util.ArrayDeque;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * The events of one session on the replica that runs it: the last {@code replay} events are kept for subscribers that
 * (re)connect; each subscriber reads through its own buffer of {@code buffer} events, and when it falls behind the
 * oldest syscalls are dropped and a {@code dropped} marker with their count is delivered right before the first event
 * after them ({@link StreamBuffer}: never what the session says of itself, its state, notices and the drop markers of
 * the agent and the engine); a subscriber resuming from before what the hub holds is told how many agent messages it
 * misses. Memory is bounded by {@code replay + buffer} events per subscriber, whatever the subscriber does.
 *
 * <p>Ids grow monotonically and mean the same on every replica, so a client resumes anywhere with
 * {@code Last-Event-ID}: an agent message's id is its sequence number times {@value #PER_SEQ}, and the events the
 * control plane makes itself (state changes, drop markers of the agent) count on from the last message's id.
 */
final class EventHub {

    /** Ids per agent sequence number: room for the control plane's own events between two agent messages. */
    static final long PER_SEQ = 1000;

    private final String session;
    private final Sinks.Many<SessionEvent> sink;
    private final int replay;
    /** The ids of the events the replay holds, oldest first. */
    private final ArrayDeque<Long> kept = new ArrayDeque<>();
    /** The newest agent message this hub cannot replay: it came before the hub, or the replay let it go. */
    private long forgottenSeq;
    private long lastSeq;
    private long ownSinceSeq;

    /** The events of {@code session} from agent message {@code afterSeq} on (0 for a new session). */
    EventHub(String session, int replay, long afterSeq) {
        this.session = session;
        this.sink = Sinks.many().replay().limit(replay);
        this.replay = replay;
        this.lastSeq = afterSeq;
        this.forgottenSeq = afterSeq;
    }

    /** The agent message {@code seq} after which an event id comes ({@code Last-Event-ID} to a resume point). */
    static long seqOf(long eventId) {
        return eventId / PER_SEQ;
    }

    /**
     * Publishes agent message {@code seq} (0 for a message without one: the agent's drop markers), or an event of the
     * control plane's own. Serialised: one session's runner and its stop race.
     */
    synchronized SessionEvent publish(long seq, SessionEvent.Payload data) {
        long id;
        if (seq > lastSeq) {
            lastSeq = seq;
            ownSinceSeq = 0;
            id = seq * PER_SEQ;
        } else {
            id = lastSeq * PER_SEQ + Math.min(++ownSinceSeq, PER_SEQ - 1);
        }
        SessionEvent event = SessionEvent.of(id, session, Instant.now(), data);
        sink.emitNext(event, Sinks.EmitFailureHandler.FAIL_FAST);
        kept.add(id);
        if (kept.size() > replay) {
            long gone = kept.poll();
            if (gone % PER_SEQ == 0) {
                forgottenSeq = Math.max(forgottenSeq, seqOf(gone));
            }
        }
        return event;
    }

    /** Agent messages after {@code afterId} this hub can no longer give a subscriber resuming from there. */
    private synchronized long missedAfter(long afterId) {
        return afterId > 0 ? Math.max(0, forgottenSeq - seqOf(afterId)) : 0;
    }

    /** Publishes an event of the control plane's own. */
    SessionEvent publish(SessionEvent.Payload data) {
        return publish(0, data);
    }

    synchronized void complete() {
        sink.tryEmitComplete();
    }

    /**
     * Events after {@code afterId} (0 for all that are kept), through the subscriber's own bounded buffer
     * ({@link StreamBuffer}: it loses the oldest syscalls when it falls behind, counted in a marker, never what the
     * session says of itself). A resume from before what the hub holds (the replay let it go, or it came before this
     * replica ran the session) starts with a {@code REPLAY} marker counting the agent messages it misses.
     */
    Flux<SessionEvent> subscribe(long afterId, int buffer) {
        return Flux.defer(() -> {
            long missed = missedAfter(afterId);
            Flux<SessionEvent> events = sink.asFlux().filter(event -> event.id() > afterId);
            if (missed > 0) {
                events = Flux.concat(Flux.just(SessionEvent.dropped(session, missed, SessionEvent.DropSite.REPLAY)),
                        events);
            }
            return StreamBuffer.over(events, session, buffer);
        });
    }
}
