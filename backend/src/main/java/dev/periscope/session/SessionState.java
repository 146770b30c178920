package dev.periscope.session;

/** Where a session is in its life. ENDED and LOST are final; LOST means its VM (or the server) went away. */
public enum SessionState {
    PENDING, ACTIVE, STOPPING, ENDED, LOST;

    public boolean isFinal() {
        return this == ENDED || this == LOST;
    }
}
