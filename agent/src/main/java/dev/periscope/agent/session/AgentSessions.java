package dev.periscope.agent.session;

import dev.periscope.agent.api.EndReason;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.scheduler.Scheduler;

/**
 * The sessions running on this agent, by the control plane's session id. Opening is idempotent (the id of a running
 * session finds it; the id of an ended one starts it again, numbering on), any number of subscribers may stream a
 * session, and a session that nobody has subscribed to for the orphan timeout is ended ({@link EndReason#ORPHANED}):
 * a control plane that died leaves nothing trapping in a guest. Ended sessions are kept for the retention time so
 * that late subscribers still read their end.
 */
public final class AgentSessions implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AgentSessions.class);

    /**
     * @param replay             messages kept per session for resuming subscribers
     * @param subscriberCapacity messages queued per subscriber before it loses some
     * @param orphanTimeout      how long a session may run with nobody subscribed
     * @param retention          how long an ended session is kept
     */
    public record Limits(int replay, int subscriberCapacity, Duration orphanTimeout, Duration retention) {
        public static final Limits DEFAULT = new Limits(4096, 4096, Duration.ofSeconds(60), Duration.ofSeconds(60));
    }

    /** What sessions need from the engine; the agent's codec makes the messages. */
    public interface Engine {
        /** Starts an engine trace (blocks for a process-list walk). */
        TraceSession trace(String vm, TraceRequest request);

        /** Reads a process list as a message. */
        ProcessList processes(String vm, AcquisitionMode mode);

        /** An engine event as a message. */
        SessionMessage.Builder message(TraceEvent event);

        /** A trace's overhead sample as a message. */
        SessionMessage.Builder overhead(TraceSession trace);
    }

    private final Engine engine;
    private final Scheduler engineCalls;
    private final Scheduler dispatch;
    private final Limits limits;
    private final Map<String, AgentSession> sessions = new ConcurrentHashMap<>();
    private final Map<String, Long> endedAt = new ConcurrentHashMap<>();
    private final Map<String, Object> opening = new ConcurrentHashMap<>();
    /** Ids whose open is under way. */
    private final Set<String> starting = ConcurrentHashMap.newKeySet();
    /** Ids closed while their open was under way: the open ends the run it started at once. */
    private final Set<String> closedWhileOpening = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService sweeper = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("agent-session-sweeper").factory());

    public AgentSessions(Engine engine, Scheduler engineCalls, Scheduler dispatch, Limits limits) {
        this.engine = engine;
        this.engineCalls = engineCalls;
        this.dispatch = dispatch;
        this.limits = limits;
        long period = Math.max(100, Math.min(limits.orphanTimeout().toMillis(), limits.retention().toMillis()) / 4);
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    /**
     * Opens (or finds, or restarts) a session. Blocks for a trace's start (a process-list walk). A close that
     * arrives while the run starts (the control plane gave up waiting for this open) ends the run as soon as it
     * has started: a session nobody will stream never keeps trapping in the guest until the orphan timeout.
     */
    public SessionInfo open(OpenSessionRequest spec) {
        if (spec.getId().isBlank() || spec.getVm().isBlank() || spec.getKindCase() == OpenSessionRequest.KindCase.KIND_NOT_SET) {
            throw new IllegalArgumentException("a session needs an id, a VM and a kind (trace or process lists)");
        }
        SessionInfo info;
        starting.add(spec.getId());
        try {
            info = openOrFind(spec);
        } catch (RuntimeException e) {
            closedWhileOpening.remove(spec.getId());
            throw e;
        } finally {
            starting.remove(spec.getId());
        }
        if (closedWhileOpening.remove(spec.getId())) {
            log.info("session {} on {} was closed while it started: ending it", spec.getId(), spec.getVm());
            return close(spec.getId());
        }
        return info;
    }

    private SessionInfo openOrFind(OpenSessionRequest spec) {
        // one open at a time per id (a trace's start blocks for a walk; other ids go on meanwhile)
        synchronized (opening.computeIfAbsent(spec.getId(), k -> new Object())) {
            AgentSession existing = sessions.get(spec.getId());
            if (existing != null) {
                if (!sameSession(existing.spec(), spec)) {
                    throw new IllegalArgumentException("session " + spec.getId() + " is open with another spec");
                }
                if (!existing.stream().ended()) {
                    return existing.info();
                }
                SessionStream next = stream(Math.max(existing.stream().lastSeq(), spec.getResumeAfter()) + 1);
                existing.restart(next, start(spec, next));
                endedAt.remove(spec.getId());
                log.info("session {} on {} started again after seq {}", spec.getId(), spec.getVm(), next.lastSeq());
                return existing.info();
            }
            SessionStream stream = stream(spec.getResumeAfter() + 1);
            AgentSession session = new AgentSession(spec, stream, start(spec, stream));
            sessions.put(spec.getId(), session);
            return session.info();
        }
    }

    /** The same session: all but where a resumed stream numbers on. */
    private static boolean sameSession(OpenSessionRequest a, OpenSessionRequest b) {
        return a.toBuilder().clearResumeAfter().build().equals(b.toBuilder().clearResumeAfter().build());
    }

    private SessionStream stream(long firstSeq) {
        return new SessionStream(limits.replay(), limits.subscriberCapacity(), firstSeq);
    }

    private AgentSession.Run start(OpenSessionRequest spec, SessionStream stream) {
        return switch (spec.getKindCase()) {
            case TRACE -> {
                var t = spec.getTrace();
                TraceRequest request = new TraceRequest(t.getPid(), t.getProcessName(),
                        dev.periscope.vmi.trace.TraceMethod.valueOf(t.getMethod().name()), t.getFollowChildren(),
                        t.getReadStrings(), t.getBufferSize() == 0 ? TraceRequest.DEFAULT_BUFFER : t.getBufferSize());
                TraceSession trace = engine.trace(spec.getVm(), request);
                yield new TraceRun(trace, stream, dispatch, engine::message, engine::overhead);
            }
            case PROCESS_LISTS -> {
                var p = spec.getProcessLists();
                Duration interval = Duration.ofSeconds(p.getInterval().getSeconds(), p.getInterval().getNanos());
                if (interval.compareTo(Duration.ofMillis(100)) < 0) {
                    throw new IllegalArgumentException("process lists need an interval of at least 100 ms");
                }
                AcquisitionMode mode = AcquisitionMode.valueOf(p.getMode().name());
                yield new ProcessListRun(stream, interval, engineCalls, () -> engine.processes(spec.getVm(), mode));
            }
            case KIND_NOT_SET -> throw new IllegalArgumentException("a session needs a kind");
        };
    }

    /** Streams a session's messages after {@code afterSeq} to {@code out}. */
    public void stream(String id, long afterSeq, SubscriberStream out) {
        get(id).subscribe(afterSeq, out);
    }

    /**
     * Ends a session; its end follows on its stream. A session whose open is under way (a first start, or a start
     * again) is ended once it has started (its open answers that it ended) and this answers with its id alone.
     */
    public SessionInfo close(String id) {
        if (starting.contains(id)) {
            closedWhileOpening.add(id);
            if (starting.contains(id)) { // the open looks for the mark after it is no longer under way
                return SessionInfo.newBuilder().setId(id).build();
            }
            closedWhileOpening.remove(id); // the open ended meanwhile: closed here (at most twice, which is harmless)
        }
        AgentSession s = get(id);
        s.run().stop(SessionEnded.newBuilder().setReason(EndReason.CLOSED).build());
        return s.info();
    }

    /** Whether a session of this agent runs on {@code vm}. */
    public boolean activeOn(String vm) {
        return sessions.values().stream().anyMatch(s -> s.spec().getVm().equals(vm) && !s.stream().ended());
    }

    public int active() {
        return (int) sessions.values().stream().filter(s -> !s.stream().ended()).count();
    }

    private AgentSession get(String id) {
        AgentSession s = sessions.get(id);
        if (s == null) {
            throw new NoSuchSessionException(id);
        }
        return s;
    }

    private void sweep() {
        long now = System.nanoTime();
        for (Map.Entry<String, AgentSession> e : sessions.entrySet()) {
            SessionStream stream = e.getValue().stream();
            if (stream.ended()) {
                long at = endedAt.computeIfAbsent(e.getKey(), k -> now);
                if (now - at > limits.retention().toNanos()) {
                    sessions.remove(e.getKey(), e.getValue());
                    endedAt.remove(e.getKey());
                    opening.remove(e.getKey());
                }
            } else if (stream.unwatchedNanos() > limits.orphanTimeout().toNanos()) {
                log.warn("session {} on {}: nobody subscribed for {} s, ending it", e.getKey(),
                        e.getValue().spec().getVm(), limits.orphanTimeout().toSeconds());
                e.getValue().run().stop(SessionEnded.newBuilder().setReason(EndReason.ORPHANED)
                        .setDetail("no subscriber for " + limits.orphanTimeout().toSeconds() + " s").build());
            }
        }
    }

    /** Ends every session (the agent shuts down). */
    @Override
    public void close() {
        sweeper.shutdownNow();
        for (AgentSession s : List.copyOf(sessions.values())) {
            s.run().stop(SessionEnded.newBuilder().setReason(EndReason.ENGINE_CLOSED).build());
        }
    }
}
