package dev.periscope.session;

import java.time.Instant;

/**
 * One event of a session's stream. {@code id} grows monotonically (also across server restarts: it is based on
 * the clock), so a client that reconnects with {@code Last-Event-ID} gets what it missed; drop markers carry
 * no id ({@code -1}) and say how many events this subscriber lost because it read too slowly.
 *
 * @param id      event id, -1 for drop markers
 * @param session the session
 * @param type    "state", "processes", "notice" or "dropped"
 * @param at      when it happened
 * @param data    the payload: a state change, a process list, a notice, or the dropped count
 */
public record SessionEvent(long id, String session, String type, Instant at, Object data) {

    /** A state change and why. */
    public record StateChange(SessionState state, String reason) {
    }

    /** How many events were dropped before the next one. */
    public record Dropped(long count) {
    }

    static SessionEvent dropped(String session, long count) {
        return new SessionEvent(-1, session, "dropped", Instant.now(), new Dropped(count));
    }
}
