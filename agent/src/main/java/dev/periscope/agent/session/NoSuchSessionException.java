package dev.periscope.agent.session;

/** A session id the agent does not know (never opened, or ended long ago). */
public final class NoSuchSessionException extends RuntimeException {
    NoSuchSessionException(String id) {
        super("no session " + id + " on this agent");
    }
}
