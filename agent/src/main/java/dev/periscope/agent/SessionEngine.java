package dev.periscope.agent;

import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.session.AgentSessions;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceSession;

/**
 * An engine as agent sessions use it, with its events and overhead samples encoded by {@link Codec} on this host's
 * clock. The agent's own engine extends it; so do fakes that stand in for an engine in tests.
 */
public abstract class SessionEngine implements AgentSessions.Engine {

    private final Codec.MonotonicClock clock = Codec.MonotonicClock.now();

    @Override
    public final SessionMessage.Builder message(TraceEvent event) {
        return Codec.message(event, clock);
    }

    @Override
    public final SessionMessage.Builder overhead(TraceSession trace) {
        return SessionMessage.newBuilder().setOverhead(Codec.overhead(trace.overhead()));
    }
}
