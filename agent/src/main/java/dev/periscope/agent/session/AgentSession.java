package dev.periscope.agent.session;

import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionInfo;

/**
 * A session running on this agent under the control plane's id: what it was opened with, its current {@link Run}
 * (replaced when a session that ended is opened again) and the stream its runs append to.
 */
final class AgentSession {

    /** One run of a session: a trace or process lists, appending to the session's stream until it ends. */
    sealed interface Run permits TraceRun, ProcessListRun {
        /** Ends the run for {@code why}; its end is appended to the stream (at once or when the engine confirms). */
        void stop(SessionEnded why);

        /** The session as {@code OpenSession} reports it. */
        SessionInfo.Builder info();
    }

    private final OpenSessionRequest spec;
    private SessionStream stream;
    private Run run;

    AgentSession(OpenSessionRequest spec, SessionStream stream, Run run) {
        this.spec = spec;
        this.stream = stream;
        this.run = run;
    }

    OpenSessionRequest spec() {
        return spec;
    }

    synchronized SessionStream stream() {
        return stream;
    }

    synchronized Run run() {
        return run;
    }

    /** Starts a new run after the previous one ended; its messages continue the numbering. */
    synchronized void restart(SessionStream next, Run nextRun) {
        stream = next;
        run = nextRun;
    }

    void subscribe(long afterSeq, SubscriberStream out) {
        stream().subscribe(afterSeq, out);
    }

    synchronized SessionInfo info() {
        return run.info().setId(spec.getId()).setVm(spec.getVm()).setEnded(stream.ended())
                .setLastSeq(stream.lastSeq()).build();
    }
}
