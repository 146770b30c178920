package dev.periscope.vmi;

/** An operation was attempted on an introspection handle or session that was already closed. */
public final class SessionClosedException extends VmiException {
    public SessionClosedException(String message) {
        super(message, null);
    }
}
