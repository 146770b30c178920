package dev.periscope.session;

import dev.periscope.account.Accounts;
import dev.periscope.caller.Caller;
import dev.periscope.audit.Audit;
import dev.periscope.fleet.AgentLink;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.FleetProperties;
import dev.periscope.fleet.VmId;
import dev.periscope.system.PeriscopeProperties;
import dev.periscope.system.Sql;
import dev.periscope.tenant.Tenant;
import dev.periscope.tenant.Tenants;
import dev.periscope.vm.Fleet;
import dev.periscope.vm.VmState;
import dev.periscope.vm.VmView;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.core.annotation.Order;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.Disposable;
import reactor.core.Disposables;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Opens, runs, stops and hands over sessions. Every session runs on its VM's agent ({@link SessionRunner}); one
 * control-plane replica, its runner, follows it (events to its subscribers, archive, samples, limits) and renews its
 * claim every lease. Any replica streams any session to its clients, from its own hub when it runs it, else from the
 * agent. A session whose runner stops renewing (a replica that died, or this one restarting) is taken over: resumed
 * on its agent when its VM still runs and its time is not up, lost (VM gone, agent lost) or ended (time up, stopped)
 * otherwise. An agent that becomes unreachable ends its hosts' sessions here as lost at once.
 */
@Component
@Order(20)
public class Sessions implements ApplicationRunner {

    private static final Logger log = LoggerFactory.getLogger(Sessions.class);
    private static final int FINISHED_HUBS = 200;
    /** Events handed from a stream's buffer to the thread that writes it, at most (more of its memory bound). */
    private static final int STREAM_HAND_OVER = 32;
    /** How long after start-up a session whose host's agent has not answered yet waits before it is lost. */
    private static final Duration AGENT_GRACE = Duration.ofSeconds(20);

    private final SessionStore store;
    private final Tenants tenants;
    private final Fleet fleet;
    private final Agents agents;
    private final Audit audit;
    private final SessionRunner runner;
    private final PeriscopeProperties.Sessions limits;
    private final String replica;
    private final Duration lease;
    private final Instant startedAt = Instant.now();
    private final Map<String, Running> running = new ConcurrentHashMap<>();
    /**
     * By host, the VMs whose traces were lost with their agent: an agent killed during a trace leaves the VM's
     * hypervisor extension trapping, so it is switched off once the agent answers again.
     */
    private final Map<String, Set<String>> leftArmed = new ConcurrentHashMap<>();
    private final Map<String, EventHub> finished = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, EventHub> eldest) {
            return size() > FINISHED_HUBS;
        }
    };
    private final AtomicInteger streams = new AtomicInteger();
    private final Scheduler streamDelivery = Schedulers.newParallel("session-streams",
            Math.max(1, Runtime.getRuntime().availableProcessors() / 2), true);
    private Disposable leases = Disposables.disposed();
    private volatile boolean stopping;

    /**
     * A session this replica runs: its hub, its runner, whether a stop took over ending it, whether one of its ends
     * is under way ({@link #finish}), and a signal when the runner finished (its agent's last events are in the hub).
     */
    private record Running(Session session, EventHub hub, Disposable.Swap runner, AtomicBoolean stopped,
                           AtomicBoolean finishing, Sinks.Empty<Void> drained) {
        Running(Session session, EventHub hub) {
            this(session, hub, Disposables.swap(), new AtomicBoolean(), new AtomicBoolean(), Sinks.empty());
        }
    }

    /**
     * How long a session that ends here (stopped, or out of time) waits for its agent's last events: the calls still
     * running, shown unfinished, and the agent's end.
     */
    static final Duration DRAIN = Duration.ofSeconds(3);

    /** How a session's run ended: why, and what happened for people. */
    record Outcome(SessionEnd end, String reason) {
    }

    /** A session opened, or found again by its idempotency key ({@code replayed}). */
    public record Opened(Session session, boolean replayed) {
    }

    Sessions(SessionStore store, Tenants tenants, Fleet fleet, Agents agents, Audit audit, SessionRunner runner,
             PeriscopeProperties properties, FleetProperties fleetProperties, MeterRegistry meters) {
        this.store = store;
        this.tenants = tenants;
        this.fleet = fleet;
        this.agents = agents;
        this.audit = audit;
        this.runner = runner;
        this.limits = properties.sessions();
        this.replica = fleetProperties.replicaName();
        this.lease = fleetProperties.sessionLease();
        agents.onChange(this::agentChanged);
        Gauge.builder("periscope.sessions.running", running, Map::size)
                .description("sessions this replica runs").register(meters);
        Gauge.builder("periscope.streams", streams, AtomicInteger::get)
                .description("event streams open to clients on this replica").register(meters);
    }

    /**
     * Opens a session for {@code caller}. Tenant callers (and every session opened for a self-service request)
     * are held to their tenant's policy; a tenant that requires approval must go through a request.
     */
    public Mono<Opened> open(Caller caller, SessionSpec raw, String idempotencyKey, String requestId) {
        SessionSpec spec = raw.normalized(limits.defaultMaxDuration(), limits.defaultMaxEvents());
        if (spec.kind() == SessionKind.TRACE && spec.targetPid() == null && spec.targetProcess() == null) {
            return Mono.error(new ResponseStatusException(HttpStatus.BAD_REQUEST,
                    "a trace session needs a targetPid or a targetProcess"));
        }
        if (spec.maxDurationSeconds() > limits.ceilingMaxDuration().toSeconds()) {
            return Mono.error(new ResponseStatusException(HttpStatus.BAD_REQUEST, "maxDurationSeconds must be at most "
                    + limits.ceilingMaxDuration().toSeconds()));
        }
        String hash = Accounts.sha256Hex(spec.toString());
        Mono<Opened> fresh = fleet.get(caller, spec.vm())
                .flatMap(vm -> policy(caller, vm, spec, requestId).then(create(caller, vm, spec, idempotencyKey, hash,
                        requestId)))
                .map(s -> new Opened(s, false));
        if (idempotencyKey == null) {
            return fresh;
        }
        Mono<Opened> replay = store.byIdempotencyKey(caller.username(), idempotencyKey)
                .flatMap(found -> found.getValue().equals(hash) ? Mono.just(new Opened(found.getKey(), true))
                        : Mono.error(new ResponseStatusException(HttpStatus.UNPROCESSABLE_CONTENT,
                        "Idempotency-Key '" + idempotencyKey + "' was used with a different request body")));
        return replay.switchIfEmpty(fresh.onErrorResume(DataIntegrityViolationException.class, e -> replay));
    }

    private Mono<Void> policy(Caller caller, VmView vm, SessionSpec spec, String requestId) {
        if (caller.isOperator() && requestId == null) {
            return Mono.empty();
        }
        return tenants.find(vm.tenant())
                .switchIfEmpty(Mono.error(new ResponseStatusException(HttpStatus.CONFLICT,
                        "VM " + vm.name() + " belongs to tenant '" + vm.tenant() + "', which is not registered")))
                .flatMap(tenant -> checkQuotas(tenant, spec.kind(), spec.maxDurationSeconds())
                        .then(Mono.defer(() -> tenant.approvalRequired() && requestId == null
                                ? Mono.error(new ResponseStatusException(HttpStatus.FORBIDDEN, "tenant '" + tenant.id()
                                + "' requires operator approval for each introspection: POST /api/v1/requests"))
                                : Mono.empty())));
    }

    /** Fails with a 409 problem when a new session of this kind and length would exceed the tenant's quotas. */
    public Mono<Void> checkQuotas(Tenant tenant, SessionKind kind, long durationSeconds) {
        Mono<Void> concurrent = store.openCount(tenant.id()).flatMap(open -> open >= tenant.maxConcurrentSessions()
                ? Mono.error(new ResponseStatusException(HttpStatus.CONFLICT, "tenant '" + tenant.id() + "' has " + open
                + " open sessions, its quota is " + tenant.maxConcurrentSessions()))
                : Mono.empty());
        if (kind != SessionKind.TRACE) {
            return concurrent;
        }
        return concurrent.then(store.traceSecondsSince(tenant.id(), Instant.now().minus(Duration.ofDays(1)))
                .flatMap(used -> (used + durationSeconds) > tenant.maxTraceMinutesPerDay() * 60L
                        ? Mono.error(new ResponseStatusException(HttpStatus.CONFLICT, "tenant '" + tenant.id()
                        + "' would exceed its " + tenant.maxTraceMinutesPerDay() + " trace minutes per day ("
                        + used / 60 + " used, " + Math.ceilDiv(durationSeconds, 60) + " asked)"))
                        : Mono.empty()));
    }

    private Mono<Session> create(Caller caller, VmView vm, SessionSpec spec, String key, String hash, String requestId) {
        Session session = new Session(UUID.randomUUID().toString(), vm.tenant(), vm.id(), spec.kind(), spec.method(),
                spec.targetPid(), spec.targetProcess(), spec.syscalls(), spec.mode(), spec.intervalSeconds(),
                spec.maxDurationSeconds(), spec.maxEvents(), 0, 0, SessionState.PENDING, null, null, caller.username(),
                requestId, Instant.now(), null, null);
        return store.insert(session, key, hash, replica)
                .flatMap(s -> audit.record(caller, s.tenant(), "SESSION_STARTED", s.id(), "ok",
                        s.kind() + " " + s.method() + " on " + s.vm() + (requestId == null ? "" : " request=" + requestId)))
                .then(start(session, Duration.ofSeconds(session.maxDurationSeconds()), "started"));
    }

    /** Runs {@code session} on this replica for at most {@code remaining}. */
    private Mono<Session> start(Session session, Duration remaining, String why) {
        EventHub hub = new EventHub(session.id(), limits.replayEvents(), session.lastSeq());
        Running run = new Running(session, hub);
        if (running.putIfAbsent(session.id(), run) != null) {
            return store.find(session.id()); // already running here
        }
        return store.started(session.id(), Instant.now())
                .then(Mono.fromRunnable(() -> {
                    hub.publish(new SessionEvent.StateChange(SessionState.ACTIVE, null, why));
                    run.runner().update(runner.run(session, hub, remaining)
                            .flatMap(outcome -> run.stopped().get() ? Mono.<Void>empty()
                                    : finish(session.id(), outcome, "periscope"))
                            .doFinally(signal -> run.drained().tryEmitEmpty())
                            .subscribe(null, e -> log.warn("session {} runner failed", session.id(), e)));
                }))
                .then(store.find(session.id()));
    }


    /**
     * Moves the session to its final state (once), tells its subscribers and completes its stream. A database that is
     * away delays this until it is back (the session would otherwise stay running here and active there for good).
     */
    private Mono<Void> finish(String id, Outcome outcome, String actor) {
        return Mono.defer(() -> {
            Running claimed = running.get(id);
            // One end at a time: an agent lost is seen by its link and by the runner's stream at once, and the one
            // whose update lost the race used to stop the runner while the other, inside that runner's subscription,
            // had stored the end but not yet told the hub: the session was LOST, its stream never ended and what it
            // armed stayed armed (./periscope bench faults --only agent-restart: 3 of 15)
            if (claimed != null && !claimed.finishing().compareAndSet(false, true)) {
                return Mono.empty();
            }
            return finishClaimed(id, outcome, actor);
        });
    }

    private Mono<Void> finishClaimed(String id, Outcome outcome, String actor) {
        SessionState state = outcome.end().state();
        Mono<Boolean> stored = store.finish(id, outcome.end(), outcome.reason(), Instant.now())
                .retryWhen(Sql.untilAvailable());
        return stored.flatMap(changed -> {
            Running run = running.get(id);
            if (changed && run != null && outcome.end() == SessionEnd.AGENT_LOST
                    && run.session().kind() == SessionKind.TRACE) {
                lostArmed(run.session());
            }
            Mono<Void> audited = Mono.empty();
            if (changed) {
                EventHub hub = run != null ? run.hub() : new EventHub(id, limits.replayEvents(), 0);
                hub.publish(new SessionEvent.StateChange(state, outcome.end(), outcome.reason()));
                hub.complete();
                // among the finished before it leaves the running: a client that opens its stream meanwhile finds
                // the hub in one of the two (else it followed the agent's stream of a session that had ended there)
                synchronized (finished) {
                    finished.put(id, hub);
                }
                audited = store.find(id).flatMap(s -> audit.record(actor, s.tenant(),
                        state == SessionState.LOST ? "SESSION_LOST" : "SESSION_ENDED", id, "ok", outcome.reason()));
            }
            running.remove(id);
            // the runner stops last: when it is the runner that ends its session, this runs on its own subscription,
            // and disposing that first cut the audit record off (no session that ended by itself was audited)
            return audited.doFinally(signal -> {
                if (run != null) {
                    run.runner().dispose();
                }
            });
        });
    }

    /**
     * Stops a session whichever replica runs it: final at once, and ended on its agent. When the database cannot record
     * the stop (a full disk, a database gone), the trace is ended on its agent all the same, its end is stored in the
     * background as soon as the database takes it, and the caller gets the database's error: a session asked to stop
     * never traces on.
     */
    Mono<Session> stop(Caller caller, String id) {
        return store.find(caller, id)
                .switchIfEmpty(notFound(id))
                .flatMap(s -> {
                    if (s.state().isFinal()) {
                        return Mono.just(s);
                    }
                    Mono<Void> halt = markStopping(caller, id).then(runner.close(s));
                    Mono<Void> record = drained(id).then(finish(id, new Outcome(SessionEnd.STOPPED,
                            "stopped by " + caller.username()), caller.username()));
                    return store.stopping(id)
                            .onErrorResume(e -> halt.then(Mono.fromRunnable(() -> record.subscribe(null, x -> log.warn(
                                    "session {}: its stop is not stored yet: {}", id, x.toString()))))
                                    .then(Mono.error(e)))
                            .then(audit.record(caller, s.tenant(), "SESSION_STOPPED", id, "ok",
                                    "stopped by " + caller.username()))
                            .then(halt)
                            .then(record)
                            .then(store.find(id));
                });
    }

    /** Tells this replica's runner of {@code id}, if any, that its session was asked to stop (it ends STOPPED). */
    private Mono<Void> markStopping(Caller caller, String id) {
        return Mono.fromRunnable(() -> {
            Running run = running.get(id);
            if (run != null && !run.stopped().getAndSet(true)) {
                run.hub().publish(new SessionEvent.StateChange(SessionState.STOPPING, null,
                        "stop asked by " + caller.username()));
            }
        });
    }

    /** Completes when this replica's runner of {@code id} consumed its agent's last events, at the latest after DRAIN. */
    private Mono<Void> drained(String id) {
        Running run = running.get(id);
        return run == null ? Mono.empty() : run.drained().asMono().timeout(DRAIN, Mono.empty());
    }

    /** The scheduler the streams' events are delivered, encoded and grouped on. */
    Scheduler streamDelivery() {
        return streamDelivery;
    }

    /**
     * The session's events after {@code lastEventId}, through a bounded buffer; ends when the session ends. From this
     * replica's hub when it runs (or ran) the session, else straight from its agent, followed by its final state.
     */
    Flux<SessionEvent> events(Caller caller, String id, long lastEventId) {
        // Delivered (and encoded) on a scheduler of the streams' own rather than on the Netty event loop that asks for
        // more: a subscriber behind a busy session always has events waiting, and draining them there kept that event
        // loop, and every request on its other connections, waiting for tens of seconds (bench/soak.sh). Half the
        // cores at most: a flood of stream events leaves the rest to requests and to the sessions' runners.
        return stream(caller, id, lastEventId).publishOn(streamDelivery, STREAM_HAND_OVER)
                .doOnSubscribe(sub -> streams.incrementAndGet())
                .doFinally(signal -> streams.decrementAndGet());
    }

    private Flux<SessionEvent> stream(Caller caller, String id, long lastEventId) {
        return store.find(caller, id).switchIfEmpty(notFound(id)).flatMapMany(s -> {
            Running run = running.get(id);
            EventHub hub = run != null ? run.hub() : finishedHub(id);
            if (hub != null) {
                return hub.subscribe(lastEventId, limits.streamBuffer());
            }
            if (s.state().isFinal()) {
                return Flux.just(finalState(s));
            }
            // the session's state first, as the runner's hub starts with it: a client learns at once that it is
            // connected (and gets the response's headers) even while every agent message is filtered out
            SessionEvent now = SessionEvent.of(-1, id, Instant.now(), new SessionEvent.StateChange(s.state(), null,
                    "streamed from host " + SessionRunner.vm(s).host() + "'s agent by replica " + replica));
            return runner.follow(s, EventHub.seqOf(lastEventId), caller)
                    .startWith(now)
                    .onErrorResume(e -> Flux.empty())
                    .concatWith(Mono.defer(() -> store.find(id)).filter(f -> f.state().isFinal())
                            .repeatWhenEmpty(20, tries -> tries.delayElements(Duration.ofMillis(250)))
                            .map(Sessions::finalState));
        });
    }

    /** A finished session's last event, as its runner published it (the id after its last agent message). */
    private static SessionEvent finalState(Session s) {
        Instant at = s.endedAt() != null ? s.endedAt() : s.createdAt();
        return SessionEvent.of(s.lastSeq() * EventHub.PER_SEQ + EventHub.PER_SEQ - 1, s.id(), at,
                new SessionEvent.StateChange(s.state(), s.end(), s.endReason()));
    }

    private EventHub finishedHub(String id) {
        synchronized (finished) {
            return finished.get(id);
        }
    }

    static <T> Mono<T> notFound(String id) {
        return Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no session '" + id + "'"));
    }

    // ------------------------------------------------------------------ runners, leases, lost agents

    /** Takes over this replica's sessions left from before a restart, then renews and claims every lease. */
    @Override
    public void run(ApplicationArguments args) {
        claim().block();
        leases = Flux.interval(lease, lease)
                .onBackpressureDrop()
                .concatMap(t -> store.renew(replica, running.keySet()).then(claim()).onErrorResume(e -> {
                    log.warn("session leases: {}", e.toString());
                    return Mono.empty();
                }))
                .subscribe();
    }

    /** Claims the unfinished sessions nobody runs (runner gone quiet, or this replica before a restart). */
    Mono<Void> claim() {
        Instant stale = Instant.now().minus(lease.multipliedBy(3));
        return store.claimable(replica, stale)
                .filter(s -> !running.containsKey(s.id()))
                .concatMap(s -> store.claim(s.id(), replica, stale).filter(Boolean::booleanValue)
                        .flatMap(claimed -> takeOver(s)))
                .then();
    }

    /** A session this replica now runs: resumed, or finished when its VM, its agent or its time is gone. */
    private Mono<Void> takeOver(Session s) {
        VmId id = SessionRunner.vm(s);
        Instant since = s.startedAt() != null ? s.startedAt() : s.createdAt();
        Duration remaining = Duration.between(Instant.now(), since.plusSeconds(s.maxDurationSeconds()));
        if (s.state() == SessionState.STOPPING) {
            return finish(s.id(), new Outcome(SessionEnd.STOPPED, "stopped while its runner was gone"), "periscope")
                    .then(runner.close(s));
        }
        if (remaining.isNegative() || remaining.isZero()) {
            return finish(s.id(), new Outcome(SessionEnd.MAX_DURATION, "max duration elapsed while its runner was gone"),
                    "periscope").then(runner.close(s));
        }
        AgentLink.State agent = agents.host(id.host()).map(AgentLink::state).orElse(AgentLink.State.UNREACHABLE);
        boolean early = Duration.between(startedAt, Instant.now()).compareTo(AGENT_GRACE) < 0;
        if (agent != AgentLink.State.CONNECTED) {
            if (early) {
                return Mono.empty(); // its agent may not have answered yet: the next lease tries again
            }
            return finish(s.id(), new Outcome(SessionEnd.AGENT_LOST, "server restarted and the agent of host "
                    + id.host() + " is unreachable"), "periscope");
        }
        return fleet.find(s.vm()).filter(vm -> vm.state() == VmState.RUNNING).hasElement().flatMap(runs -> {
            if (!runs) {
                return finish(s.id(), new Outcome(SessionEnd.VM_GONE, "server restarted and VM " + s.vm()
                        + " is gone"), "periscope");
            }
            log.info("resuming session {} on {} for {} after seq {}", s.id(), s.vm(), remaining, s.lastSeq());
            Mono<Boolean> disarmed = s.kind() == SessionKind.TRACE ? runner.disarm(s.vm()) : Mono.just(false);
            return disarmed.then(start(s, remaining, "resumed by " + replica)).then();
        });
    }

    /**
     * An agent became unreachable or was dropped: the sessions on its host end lost, here, at once; once it answers
     * again, what its lost traces left armed is switched off (unless a session of the agent runs there).
     */
    private void agentChanged(AgentLink link) {
        String host = link.host().orElse(null);
        if (stopping || host == null) {
            return;
        }
        if (link.state() == AgentLink.State.CONNECTED) {
            disarmLeftArmed(host);
            return;
        }
        if (link.state() != AgentLink.State.UNREACHABLE) {
            return;
        }
        for (Running run : List.copyOf(running.values())) {
            if (SessionRunner.vm(run.session()).host().equals(host)) {
                finish(run.session().id(), new Outcome(SessionEnd.AGENT_LOST, "the agent of host " + host
                        + " is unreachable: " + link.status().lastError()), "periscope").subscribe();
            }
        }
    }

    /**
     * A trace that ended with its agent lost, whoever noticed first (its runner's stream or the agent's link): what it
     * armed is switched off when the agent answers again.
     */
    private void lostArmed(Session s) {
        leftArmed.computeIfAbsent(SessionRunner.vm(s).host(), h -> ConcurrentHashMap.newKeySet()).add(s.vm());
    }

    private void disarmLeftArmed(String host) {
        Set<String> armed = leftArmed.remove(host);
        if (armed != null) {
            armed.forEach(vm -> runner.disarm(vm).subscribe());
        }
    }

    @PreDestroy
    void shutdown() {
        // Runners stop with the server; their sessions stay open in the database and on their agents, and this
        // replica (after a restart) or another takes them over.
        stopping = true;
        leases.dispose();
        streamDelivery.dispose();
        running.values().forEach(r -> r.runner().dispose());
        running.clear();
    }
}
