package dev.periscope.agent.session;

import dev.periscope.agent.api.EndReason;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.TraceMethod;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceSession;
import java.time.Duration;
import java.util.function.Function;
import reactor.core.Disposable;
import reactor.core.Disposables;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;

/**
 * A trace run: the engine's {@link TraceSession} feeding the session's stream. Events leave the VM's ring thread at
 * once (they are handed to {@code dispatch} through the engine's bounded session buffer, which drops and counts when
 * the agent falls behind), an overhead sample follows every second, and the engine's end is the stream's last message.
 */
final class TraceRun implements AgentSession.Run {

    static final Duration OVERHEAD_PERIOD = Duration.ofSeconds(1);

    private final TraceSession trace;
    private final Disposable.Composite work = Disposables.composite();
    private volatile SessionEnded stopReason;

    /**
     * @param toMessage the engine event as a message (the agent's codec, with its clock)
     * @param overhead  an overhead sample message of the trace
     */
    TraceRun(TraceSession trace, SessionStream stream, Scheduler dispatch,
             Function<TraceEvent, SessionMessage.Builder> toMessage,
             Function<TraceSession, SessionMessage.Builder> overhead) {
        this.trace = trace;
        work.add(Flux.interval(OVERHEAD_PERIOD, dispatch)
                .onBackpressureDrop()
                .subscribe(t -> {
                    if (!trace.ended()) {
                        stream.append(overhead.apply(trace));
                    }
                }));
        work.add(trace.events()
                .publishOn(dispatch)
                .subscribe(e -> {
                    SessionMessage.Builder m = toMessage.apply(e);
                    if (e instanceof TraceEvent.Ended && stopReason != null) {
                        m.setEnded(stopReason); // closed by the agent for a reason of its own (orphaned)
                    }
                    if (m.hasEnded()) {
                        work.dispose();
                    }
                    stream.append(m);
                }));
    }

    @Override
    public void stop(SessionEnded why) {
        if (why.getReason() != EndReason.CLOSED) {
            stopReason = why;
        }
        trace.close();
    }

    @Override
    public SessionInfo.Builder info() {
        return SessionInfo.newBuilder().setPid(trace.pid()).setProcessName(trace.processName())
                .setMethod(TraceMethod.valueOf(trace.method().name()))
                .setMethodDescription(trace.method().description())
                .setSyscallNames(trace.syscallTable().toString());
    }
}
