package dev.periscope.session;

import dev.periscope.account.Accounts;
import dev.periscope.account.Caller;
import dev.periscope.audit.Audit;
import dev.periscope.process.ProcessListView;
import dev.periscope.process.ProcessReader;
import dev.periscope.system.PeriscopeProperties;
import dev.periscope.tenant.Tenant;
import dev.periscope.tenant.Tenants;
import dev.periscope.vm.Fleet;
import dev.periscope.vm.VmView;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import jakarta.annotation.PreDestroy;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
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

/**
 * Opens, runs, stops and reconciles sessions. A process-list session takes a list every {@code intervalSeconds}
 * until its limits (duration, events) end it, or its VM goes away ({@code lost}). After a restart, sessions left
 * open are resumed when their VM still runs and their time is not up, and marked lost (VM gone) or ended (time
 * up) otherwise. Nothing is armed in a hypervisor for process-list sessions. A trace session runs an engine trace
 * ({@link Tracer}) until its limits, its stop, its target's exit or its VM's end; at start-up, what a previous
 * server left armed for an unfinished trace is switched off before the session is resumed (and re-armed) or
 * finished.
 */
@Component
@Order(20)
public class Sessions implements ApplicationRunner {

    private static final Logger log = LoggerFactory.getLogger(Sessions.class);
    private static final int FINISHED_HUBS = 200;

    private final SessionStore store;
    private final Tenants tenants;
    private final Fleet fleet;
    private final ProcessReader reader;
    private final Audit audit;
    private final Tracer tracer;
    private final PeriscopeProperties.Sessions limits;
    private final Map<String, Running> running = new ConcurrentHashMap<>();
    private final Map<String, EventHub> finished = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, EventHub> eldest) {
            return size() > FINISHED_HUBS;
        }
    };

    private record Running(EventHub hub, Disposable.Swap runner) {
    }

    /** How a session's run ended: why, and what happened for people. */
    record Outcome(SessionEnd end, String reason) {
    }

    /** A session opened, or found again by its idempotency key ({@code replayed}). */
    public record Opened(Session session, boolean replayed) {
    }

    Sessions(SessionStore store, Tenants tenants, Fleet fleet, ProcessReader reader, Audit audit, Tracer tracer,
             PeriscopeProperties properties) {
        this.store = store;
        this.tenants = tenants;
        this.fleet = fleet;
        this.reader = reader;
        this.audit = audit;
        this.tracer = tracer;
        this.limits = properties.sessions();
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
        Session session = new Session(UUID.randomUUID().toString(), vm.tenant(), vm.name(), spec.kind(), spec.method(),
                spec.targetPid(), spec.targetProcess(), spec.syscalls(), spec.mode(), spec.intervalSeconds(),
                spec.maxDurationSeconds(), spec.maxEvents(), 0, SessionState.PENDING, null, null, caller.username(),
                requestId, Instant.now(), null, null);
        return store.insert(session, key, hash)
                .flatMap(s -> audit.record(caller, s.tenant(), "SESSION_STARTED", s.id(), "ok",
                        s.kind() + " " + s.method() + " on " + s.vm() + (requestId == null ? "" : " request=" + requestId)))
                .then(start(session, Duration.ofSeconds(session.maxDurationSeconds()), "started"));
    }

    private Mono<Session> start(Session session, Duration remaining, String why) {
        EventHub hub = new EventHub(session.id(), limits.replayEvents());
        Running run = new Running(hub, Disposables.swap());
        running.put(session.id(), run);
        return store.started(session.id(), Instant.now())
                .then(Mono.fromRunnable(() -> {
                    hub.publish(new SessionEvent.StateChange(SessionState.ACTIVE, null, why));
                    run.runner().update(run(session, hub, remaining)
                            .flatMap(outcome -> finish(session.id(), outcome, "periscope"))
                            .subscribe(null, e -> log.warn("session {} runner failed", session.id(), e)));
                }))
                .then(store.find(session.id()));
    }

    private Mono<Outcome> run(Session s, EventHub hub, Duration remaining) {
        Mono<Outcome> timeUp = Mono.delay(remaining)
                .thenReturn(new Outcome(SessionEnd.MAX_DURATION, "max duration of " + s.maxDurationSeconds() + " s reached"));
        Mono<Outcome> work = switch (s.kind()) {
            case PROCESS_LIST -> processLists(s, hub);
            case TRACE -> tracer.run(s, hub);
        };
        return Mono.firstWithSignal(work, timeUp)
                .onErrorResume(e -> Mono.just(isGone(e) ? new Outcome(SessionEnd.VM_GONE, "VM " + s.vm() + " went away: "
                        + e.getMessage()) : new Outcome(SessionEnd.FAILED, "failed: " + e.getMessage())));
    }

    private Mono<Outcome> processLists(Session s, EventHub hub) {
        AcquisitionMode mode = ProcessReader.parseMode(s.mode());
        Caller opener = Caller.operator(s.openedBy()); // ownership was checked when the session was opened
        AtomicLong delivered = new AtomicLong(s.eventsDelivered());
        return Flux.interval(Duration.ZERO, Duration.ofSeconds(s.intervalSeconds()))
                .onBackpressureDrop()
                .concatMap(tick -> reader.read(opener, s.vm(), mode, s.id()).map(Optional::of)
                        .onErrorResume(e -> e instanceof GuestDataException || e instanceof PageNotPresentException,
                                e -> {
                                    hub.publish(new SessionEvent.Notice("process list failed, retrying: " + e.getMessage()));
                                    return Mono.just(Optional.<ProcessListView>empty());
                                }))
                .filter(Optional::isPresent)
                .concatMap(list -> {
                    hub.publish(new SessionEvent.Processes(list.get()));
                    long n = delivered.incrementAndGet();
                    return store.delivered(s.id(), n).thenReturn(n);
                })
                .takeUntil(n -> n >= s.maxEvents())
                .last()
                .thenReturn(new Outcome(SessionEnd.MAX_EVENTS, "max events of " + s.maxEvents() + " reached"));
    }

    private static boolean isGone(Throwable e) {
        return e instanceof VmGoneException
                || e instanceof ResponseStatusException r && r.getStatusCode().value() == 404;
    }

    /** Moves the session to its final state (once), tells its subscribers and completes its stream. */
    private Mono<Void> finish(String id, Outcome outcome, String actor) {
        SessionState state = outcome.end().state();
        return store.finish(id, outcome.end(), outcome.reason(), Instant.now()).flatMap(changed -> {
            Running run = running.remove(id);
            EventHub hub = run != null ? run.hub() : new EventHub(id, limits.replayEvents());
            if (run != null) {
                run.runner().dispose();
            }
            if (!changed) {
                return Mono.empty();
            }
            hub.publish(new SessionEvent.StateChange(state, outcome.end(), outcome.reason()));
            hub.complete();
            synchronized (finished) {
                finished.put(id, hub);
            }
            return store.find(id).flatMap(s -> audit.record(actor, s.tenant(),
                    state == SessionState.LOST ? "SESSION_LOST" : "SESSION_ENDED", id, "ok", outcome.reason()));
        });
    }

    Mono<Session> stop(Caller caller, String id) {
        return store.find(caller, id)
                .switchIfEmpty(notFound(id))
                .flatMap(s -> s.state().isFinal() ? Mono.just(s) : store.stopping(id)
                        .then(Mono.fromRunnable(() -> {
                            Running run = running.get(id);
                            if (run != null) {
                                run.hub().publish(new SessionEvent.StateChange(SessionState.STOPPING, null,
                                        "stop asked by " + caller.username()));
                            }
                        }))
                        .then(audit.record(caller, s.tenant(), "SESSION_STOPPED", id, "ok", "stopped by " + caller.username()))
                        .then(finish(id, new Outcome(SessionEnd.STOPPED, "stopped by " + caller.username()),
                                caller.username()))
                        .then(store.find(id)));
    }

    /** The session's events after {@code lastEventId}, through a bounded buffer; ends when the session ends. */
    Flux<SessionEvent> events(Caller caller, String id, long lastEventId) {
        return store.find(caller, id).switchIfEmpty(notFound(id)).flatMapMany(s -> {
            Running run = running.get(id);
            EventHub hub = run != null ? run.hub() : finishedHub(id);
            if (hub != null) {
                return hub.subscribe(lastEventId, limits.streamBuffer());
            }
            Instant at = s.endedAt() != null ? s.endedAt() : s.createdAt();
            return Flux.just(SessionEvent.of(at.toEpochMilli() * 1000, id, at,
                    new SessionEvent.StateChange(s.state(), s.end(), s.endReason())));
        });
    }

    private EventHub finishedHub(String id) {
        synchronized (finished) {
            return finished.get(id);
        }
    }

    static <T> Mono<T> notFound(String id) {
        return Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no session '" + id + "'"));
    }

    /** Reconciles the sessions a previous run left open. */
    @Override
    public void run(ApplicationArguments args) {
        reconcile().block();
    }

    Mono<Void> reconcile() {
        return store.unfinished().concatMap(s -> {
            Instant since = s.startedAt() != null ? s.startedAt() : s.createdAt();
            Duration remaining = Duration.between(Instant.now(), since.plusSeconds(s.maxDurationSeconds()));
            return fleet.find(s.vm()).filter(VmView::running).map(Optional::of).defaultIfEmpty(Optional.empty())
                    .flatMap(vm -> vm.isPresent() && s.kind() == SessionKind.TRACE
                            ? tracer.disarm(s.vm()).thenReturn(vm) : Mono.just(vm))
                    .flatMap(vm -> {
                        if (vm.isEmpty()) {
                            return finish(s.id(), new Outcome(SessionEnd.VM_GONE, "server restarted and VM " + s.vm()
                                    + " is gone"), "periscope");
                        }
                        if (s.state() == SessionState.STOPPING) {
                            return finish(s.id(), new Outcome(SessionEnd.STOPPED, "stopped while the server restarted"),
                                    "periscope");
                        }
                        if (remaining.isNegative() || remaining.isZero()) {
                            return finish(s.id(), new Outcome(SessionEnd.MAX_DURATION,
                                    "max duration elapsed while the server was down"), "periscope");
                        }
                        log.info("resuming session {} on {} for {}", s.id(), s.vm(), remaining);
                        return start(s, remaining, "resumed after server restart").then();
                    });
        }).then();
    }

    @PreDestroy
    void shutdown() {
        // Runners stop with the server; their sessions stay open in the database and are reconciled at start-up.
        running.values().forEach(r -> r.runner().dispose());
    }
}
