package dev.periscope.session;

/** Why a session ended; the final state follows from it ({@link #state()}). */
public enum SessionEnd {
    /** Its maximum duration elapsed. */
    MAX_DURATION(SessionState.ENDED),
    /** It delivered its maximum number of events. */
    MAX_EVENTS(SessionState.ENDED),
    /** Someone stopped it. */
    STOPPED(SessionState.ENDED),
    /** The traced process exited. */
    TARGET_EXITED(SessionState.ENDED),
    /** The server shut down its engine while the session ran. */
    SHUTDOWN(SessionState.ENDED),
    /** Something failed (the reason says what). */
    FAILED(SessionState.ENDED),
    /** Its VM stopped, crashed or disappeared. */
    VM_GONE(SessionState.LOST),
    /** The agent of its VM's host went away (died, cut off, shut down). */
    AGENT_LOST(SessionState.LOST);

    private final SessionState state;

    SessionEnd(SessionState state) {
        this.state = state;
    }

    /** The final state a session that ends this way is in. */
    public SessionState state() {
        return state;
    }

    /** Whether the session did what was asked of it (a client's exit status). */
    public boolean ok() {
        return state == SessionState.ENDED && this != FAILED;
    }
}
