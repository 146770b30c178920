package dev.periscope.session;

import dev.periscope.caller.Caller;
import dev.periscope.fleet.AgentLink;
import dev.periscope.fleet.AgentMessage;
import dev.periscope.fleet.AgentSessionSpec;
import dev.periscope.fleet.AgentUnreachableException;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.FleetMetrics;
import dev.periscope.fleet.VmId;
import dev.periscope.overhead.Overhead;
import dev.periscope.process.ProcessListView;
import dev.periscope.process.ProcessReader;
import dev.periscope.syscall.ArchiveFullException;
import dev.periscope.syscall.SyscallArchive;
import dev.periscope.system.Sql;
import dev.periscope.vm.Fleet;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.trace.OverheadSnapshot;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessResourceFailureException;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * Runs sessions on their VM's agent: opens the session there (idempotent: a resumed session finds it again, or the
 * agent starts it anew numbering on), follows its stream and turns each message into the session's events, archives
 * syscalls, records overhead samples and progress, and says how the session ended. A replica that does not run a
 * session still streams it to its clients straight from the agent ({@link #follow}). Nothing here blocks: messages
 * come through gRPC's flow control, the archive has a bounded buffer of its own (a slow, unavailable or full database
 * costs archive rows, counted in the {@code archive_dropped} sample and said in the stream, never the live stream).
 */
@Component
class SessionRunner {

    private static final Logger log = LoggerFactory.getLogger(SessionRunner.class);
    static final int HAND_OVER = 1024;
    static final int ARCHIVE_BUFFER = 8192;
    static final int ARCHIVE_BATCH = 512;
    static final int SAMPLE_BACKLOG = 60;
    /**
     * How long an archive batch, a progress or an overhead write may take: one that hangs on a connection the
     * database dropped (a restart) would otherwise hold up every later one of the session for good (a batch given up
     * is counted as not archived).
     */
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(5);
    /** How long a session's last progress write waits for a database that is away before its end goes on without. */
    static final Duration FINAL_PROGRESS_WAIT = Duration.ofSeconds(60);

    private final Agents agents;
    private final Fleet fleet;
    private final ProcessReader reader;
    private final SyscallArchive archive;
    private final Overhead overhead;
    private final SessionStore store;
    private final FleetMetrics metrics;

    SessionRunner(Agents agents, Fleet fleet, ProcessReader reader, SyscallArchive archive, Overhead overhead,
                  SessionStore store, FleetMetrics metrics) {
        this.agents = agents;
        this.fleet = fleet;
        this.reader = reader;
        this.archive = archive;
        this.overhead = overhead;
        this.store = store;
        this.metrics = metrics;
    }

    /** The VM a session runs on. */
    static VmId vm(Session s) {
        return VmId.parse(s.vm()).orElseThrow(() -> new IllegalStateException("session " + s.id()
                + " names no host: " + s.vm()));
    }

    private AgentLink agent(VmId vm) {
        return agents.host(vm.host()).orElseThrow(() -> new AgentUnreachableException(vm.host(),
                "no agent of that host is known", null));
    }

    private static AgentLink.Actor actor(Session s) {
        return new AgentLink.Actor(s.openedBy(), s.tenant());
    }

    /** What the session runs on its agent. */
    static AgentSessionSpec spec(Session s) {
        return switch (s.kind()) {
            case TRACE -> new AgentSessionSpec.Trace(s.targetPid(), s.targetProcess(), s.method(), false, true);
            case PROCESS_LIST -> new AgentSessionSpec.ProcessLists(ProcessReader.parseMode(s.mode()),
                    Duration.ofSeconds(s.intervalSeconds()));
        };
    }

    /**
     * Runs {@code s} on its agent until the session there ends (its target exited, its VM went away, it was closed,
     * its {@code maxEvents} were delivered), the agent is lost, or {@code remaining} has passed since the agent
     * started it (then it is closed there). The time counts from the agent's answer, not from the open: a first
     * trace on a slow host may take seconds to start (a cold walk and the hypervisor monitor set up in a loaded
     * dom0), and a session whose time ran out before its start would end having traced nothing while the agent's
     * start went on; the open itself is bounded by the agent call timeout. Cancelling leaves the agent's session
     * running: a replica that resumes it (this one after a restart, or another) finds it again.
     */
    Mono<Sessions.Outcome> run(Session s, EventHub hub, Duration remaining) {
        VmId vm = vm(s);
        return Mono.defer(() -> {
            AgentLink link = agent(vm);
            // an open that failed (its deadline passed) may still start on the agent: closed there, not orphaned
            return link.open(s.id(), vm.name(), s.lastSeq(), spec(s), actor(s))
                    .onErrorResume(e -> close(s).then(Mono.error(e)))
                    .flatMap(opened -> {
                        if (s.kind() == SessionKind.TRACE) {
                            hub.publish(new SessionEvent.TraceStarted(opened.pid(), opened.processName(), s.method(),
                                    s.method().description(), s.syscalls(), opened.syscallNames()));
                        }
                        // time up: the agent ends the session and its last events still reach the hub, bounded
                        Sessions.Outcome maxDuration = new Sessions.Outcome(SessionEnd.MAX_DURATION,
                                "max duration of " + s.maxDurationSeconds() + " s reached");
                        AtomicBoolean timeIsUp = new AtomicBoolean();
                        // cancelled when the time is up and the agent's end did not arrive: the cancel reaches the
                        // agent's stream and the database, either of which may block, and the end must not wait on it
                        Mono<Sessions.Outcome> consumed = consume(s, vm, hub, link,
                                link.stream(s.id(), vm.name(), s.method(), s.lastSeq(), actor(s)))
                                .map(outcome -> timeIsUp.get() ? maxDuration : outcome)
                                .cancelOn(Schedulers.boundedElastic());
                        Mono<Sessions.Outcome> timeUp = Mono.delay(remaining)
                                .doOnNext(t -> timeIsUp.set(true))
                                .then(close(s))
                                .then(Mono.delay(Sessions.DRAIN))
                                .thenReturn(maxDuration);
                        return Mono.firstWithSignal(consumed, timeUp);
                    });
        }).onErrorResume(e -> Mono.just(outcome(s, e)));
    }

    /** Ends {@code s} on its agent (its end follows on its stream); never fails. */
    Mono<Void> close(Session s) {
        VmId vm = vm(s);
        return Mono.defer(() -> agent(vm).close(s.id(), actor(s))).then()
                .onErrorResume(e -> {
                    log.debug("session {}: closing it on {} failed: {}", s.id(), vm.host(), e.getMessage());
                    return Mono.empty();
                });
    }

    /** The pipeline over one open agent session (package-private for the stream tests). */
    Mono<Sessions.Outcome> consume(Session s, VmId vm, EventHub hub, AgentLink link, Flux<AgentMessage> messages) {
        Set<String> only = Set.copyOf(s.syscalls());
        AtomicLong delivered = new AtomicLong(s.eventsDelivered());
        AtomicLong lastSeq = new AtomicLong(s.lastSeq());
        AtomicLong archiveDropped = new AtomicLong();
        AtomicReference<AgentMessage.Ended> ended = new AtomicReference<>();
        Sampler sampler = new Sampler(s, archiveDropped);
        ArchiveWriter writer = new ArchiveWriter(s, hub, archiveDropped, sampler);
        Mono<Void> handled = messages
                .publishOn(Schedulers.parallel(), HAND_OVER)
                .concatMap(m -> {
                    if (m.seq() > 0) {
                        lastSeq.set(m.seq());
                    }
                    switch (m.body()) {
                        case AgentMessage.Syscall c -> {
                            if (!only.isEmpty() && !only.contains(c.call().name())) {
                                return Mono.empty();
                            }
                            SessionEvent.Syscall view = SessionEvent.Syscall.of(c.call(), m.at());
                            hub.publish(m.seq(), view);
                            if (delivered.incrementAndGet() == s.maxEvents()) {
                                link.close(s.id(), actor(s)).subscribe(null, e -> { });
                            }
                            writer.offer(record(s, c, view));
                        }
                        case AgentMessage.Processes p -> {
                            return fleet.find(s.vm())
                                    .flatMap(v -> reader.recorded(Caller.operator(s.openedBy()), v, p, s.id()))
                                    .doOnNext(list -> {
                                        hub.publish(m.seq(), new SessionEvent.Processes(list));
                                        if (delivered.incrementAndGet() == s.maxEvents()) {
                                            link.close(s.id(), actor(s)).subscribe(null, e -> { });
                                        }
                                    })
                                    .then();
                        }
                        case AgentMessage.Overhead o -> sampler.offer(o.sample(), delivered.get());
                        case AgentMessage.Ended e -> ended.set(e);
                        default -> payload(m.body()).ifPresent(p -> hub.publish(m.seq(), p));
                    }
                    return Mono.<Void>empty();
                })
                .then();
        Mono<Void> progress = Flux.interval(Duration.ofSeconds(1))
                .onBackpressureDrop()
                .concatMap(t -> store.progress(s.id(), delivered.get(), lastSeq.get()).timeout(WRITE_TIMEOUT)
                        .onErrorResume(e -> Mono.empty()))
                .then();
        // what the session delivered is stored as soon as its last message is handled, waiting out a database that is
        // away for as long as a session's end may wait for it; the archive's last batches are written after that, on
        // their own (a stop or a cancelled runner does not wait for them or cut them off)
        return Mono.firstWithSignal(handled, progress)
                .doFinally(signal -> writer.close())
                .then(Mono.defer(() -> store.progress(s.id(), delivered.get(), lastSeq.get()))
                        .retryWhen(Sql.untilAvailable()).timeout(FINAL_PROGRESS_WAIT)
                        .onErrorResume(e -> {
                            log.warn("session {}: its delivered count ({}) was not stored: {}", s.id(), delivered.get(),
                                    e.toString());
                            return Mono.empty();
                        }))
                .then(Mono.fromSupplier(() -> outcome(s, vm, ended.get(), delivered.get())));
    }

    /**
     * Follows a session this replica does not run: its agent's stream after {@code afterSeq}, as the session's events
     * (no archive, no samples: its runner records those), for one client.
     */
    Flux<SessionEvent> follow(Session s, long afterSeq, Caller caller) {
        VmId vm = vm(s);
        Set<String> only = Set.copyOf(s.syscalls());
        return Flux.defer(() -> agent(vm).stream(s.id(), vm.name(), s.method(), afterSeq,
                        new AgentLink.Actor(caller.username(), caller.tenantId())))
                .filter(m -> only.isEmpty() || !(m.body() instanceof AgentMessage.Syscall c)
                        || only.contains(c.call().name()))
                .concatMap(m -> Mono.justOrEmpty(switch (m.body()) {
                    case AgentMessage.Processes p -> Optional.of(new SessionEvent.Processes(
                            ProcessListView.of(s.vm(), p.list())));
                    case AgentMessage.Syscall c -> Optional.of(SessionEvent.Syscall.of(c.call(), m.at()));
                    default -> payload(m.body());
                }).map(p -> SessionEvent.of(m.seq() > 0 ? m.seq() * EventHub.PER_SEQ : -1, s.id(), m.at(), p)));
    }

    /** The event a message is, for messages that are the same whoever streams them. */
    private static Optional<SessionEvent.Payload> payload(AgentMessage.Body body) {
        return switch (body) {
            case AgentMessage.ProcessChange c -> Optional.of(new SessionEvent.ProcessChange(c.change().change(),
                    c.change().pid(), c.change().process(), c.change().detail()));
            case AgentMessage.Dropped d -> Optional.of(new SessionEvent.Dropped(d.count(), switch (d.site()) {
                case HYPERVISOR_RING -> SessionEvent.DropSite.HYPERVISOR_RING;
                case SESSION_BUFFER -> SessionEvent.DropSite.SESSION_BUFFER;
                case AGENT_STREAM -> SessionEvent.DropSite.AGENT_STREAM;
                case REPLAY -> SessionEvent.DropSite.REPLAY;
            }));
            case AgentMessage.Notice n -> Optional.of(new SessionEvent.Notice(n.message()));
            case AgentMessage.Syscall c -> Optional.empty();
            case AgentMessage.Processes p -> Optional.empty();
            case AgentMessage.Overhead o -> Optional.empty();
            case AgentMessage.Ended e -> Optional.empty();
        };
    }

    /** How the agent's session ended, as the session's outcome. */
    static Sessions.Outcome outcome(Session s, VmId vm, AgentMessage.Ended ended, long delivered) {
        if (delivered >= s.maxEvents()) {
            return new Sessions.Outcome(SessionEnd.MAX_EVENTS, "max events of " + s.maxEvents() + " reached");
        }
        if (ended == null) {
            return new Sessions.Outcome(SessionEnd.AGENT_LOST, "the agent of host " + vm.host()
                    + " ended the stream without ending the session");
        }
        return switch (ended.reason()) {
            case VM_GONE -> new Sessions.Outcome(SessionEnd.VM_GONE, "VM " + s.vm() + " went away: " + ended.detail());
            case TARGET_EXITED -> new Sessions.Outcome(SessionEnd.TARGET_EXITED, "target process "
                    + (s.targetPid() != null ? s.targetPid() : s.targetProcess()) + " exited");
            case CLOSED -> new Sessions.Outcome(SessionEnd.STOPPED, "closed on the agent of host " + vm.host());
            case ENGINE_CLOSED -> new Sessions.Outcome(SessionEnd.AGENT_LOST, "the agent of host " + vm.host()
                    + " shut down");
            case ORPHANED, FAILED -> new Sessions.Outcome(SessionEnd.FAILED, "the agent of host " + vm.host()
                    + " ended it: " + ended.reason().name().toLowerCase() + " " + ended.detail());
        };
    }

    /** A failure of the run, as the session's outcome. */
    static Sessions.Outcome outcome(Session s, Throwable e) {
        return switch (e) {
            case AgentUnreachableException a -> new Sessions.Outcome(SessionEnd.AGENT_LOST, a.getMessage());
            case VmGoneException g -> new Sessions.Outcome(SessionEnd.VM_GONE, "VM " + s.vm() + " went away: "
                    + g.getMessage());
            case NoSuchElementException n -> new Sessions.Outcome(SessionEnd.FAILED, "failed: " + n.getMessage());
            default -> new Sessions.Outcome(SessionEnd.FAILED, "failed: " + e.getMessage());
        };
    }

    private static SyscallArchive.SyscallRecord record(Session s, AgentMessage.Syscall c, SessionEvent.Syscall view) {
        long[] a = new long[6];
        for (int i = 0; i < Math.min(6, c.call().args().size()); i++) {
            a[i] = c.call().args().get(i).value();
        }
        return new SyscallArchive.SyscallRecord(view.time(), s.tenant(), s.vm(), s.id(), view.vcpu(), view.pid(), 0L,
                view.number(), a[0], a[1], a[2], a[3], a[4], a[5], view.status().name(), view.returnValue(),
                view.errno(), view.durationNs(), view.text());
    }

    /**
     * A session's syscall records on their way to the archive: a bounded queue written in batches, in order, beside
     * the live stream and outliving its runner, so that a stop or a cancelled runner neither waits for a slow or
     * absent database nor cuts the last batches off. A record the queue has no room for, or a batch the database did
     * not take within {@link #WRITE_TIMEOUT}, is counted ({@code archive_dropped}); when the last batch is done the
     * session's overhead sampler closes with that count. That the archive fails and that it works again is said once
     * each in the session's stream (a notice) and the log, with how many records were not archived meanwhile.
     */
    private final class ArchiveWriter {
        private final Session s;
        private final EventHub hub;
        private final AtomicLong dropped;
        private final Sinks.Many<SyscallArchive.SyscallRecord> queue = Sinks.many().unicast()
                .onBackpressureBuffer(new ArrayBlockingQueue<>(ARCHIVE_BUFFER));
        private boolean failing;
        private long notArchived;

        ArchiveWriter(Session s, EventHub hub, AtomicLong dropped, Sampler sampler) {
            this.s = s;
            this.hub = hub;
            this.dropped = dropped;
            queue.asFlux()
                    // fair: a batch is made only when the previous one is written (an unfair one fails the whole
                    // archive with an overflow as soon as one write takes longer than the batch's time)
                    .bufferTimeout(ARCHIVE_BATCH, Duration.ofMillis(250), true)
                    .concatMap(batch -> archive.append(batch).timeout(WRITE_TIMEOUT)
                            .doOnSuccess(v -> written())
                            .onErrorResume(e -> {
                                failed(batch.size(), e);
                                return Mono.empty();
                            }), 1)
                    .doFinally(signal -> sampler.close())
                    .subscribe(null, e -> log.warn("session {}: the archive's writer failed", s.id(), e));
        }

        /** Called by the session's pipeline only (one thread at a time). */
        void offer(SyscallArchive.SyscallRecord record) {
            if (queue.tryEmitNext(record).isFailure()) {
                dropped.incrementAndGet();
            }
        }

        /** Ends the queue; a cancelled runner may close it while its last record is being offered on another thread. */
        void close() {
            queue.emitComplete(Sinks.EmitFailureHandler.busyLooping(Duration.ofSeconds(1)));
        }

        private synchronized void failed(int records, Throwable e) {
            dropped.addAndGet(records);
            notArchived += records;
            if (!failing) {
                failing = true;
                String why = switch (e) {
                    case ArchiveFullException full -> full.getMessage();
                    case DataAccessResourceFailureException unavailable -> "the database is unavailable";
                    case TimeoutException slow -> "a write took longer than " + WRITE_TIMEOUT.toSeconds() + " s";
                    default -> e.toString();
                };
                log.warn("session {}: the archive is failing ({}): syscall records are not archived", s.id(), why);
                hub.publish(new SessionEvent.Notice("the archive is failing (" + why + "): syscall records are not "
                        + "archived until it works again, each counted (archive_dropped)"));
            }
        }

        private synchronized void written() {
            if (failing) {
                failing = false;
                log.info("session {}: the archive works again; {} syscall records were not archived", s.id(),
                        notArchived);
                hub.publish(new SessionEvent.Notice("the archive works again; " + notArchived
                        + " syscall records were not archived"));
                notArchived = 0;
            }
        }
    }

    /**
     * The agent's overhead samples (counted since the session started) as rows: counters as deltas since the previous
     * sample stored, so that a VM's totals add up over sessions and its maximum is the busiest second, with the
     * slowdown estimate and the delivery rate as gauges. Rows are written in order beside the live stream, never in
     * its way: a database slower than one sample a second for a minute costs samples (logged), not events, and what a
     * sample left out or not taken by the database counted is carried by the next row stored. The fleet's metrics
     * count every sample as it comes.
     */
    private final class Sampler implements AutoCloseable {
        private final Session s;
        private final AtomicLong archiveDropped;
        private final AtomicReference<Map<String, Double>> offered = new AtomicReference<>(Map.of());
        private final AtomicReference<Map<String, Double>> stored = new AtomicReference<>(Map.of());
        private final AtomicReference<Offered> last = new AtomicReference<>();
        private final long startDelivered;
        private final Sinks.Many<Reading> rows = Sinks.many().unicast()
                .onBackpressureBuffer(new ArrayBlockingQueue<>(SAMPLE_BACKLOG));

        private record Offered(OverheadSnapshot sample, long delivered) {
        }

        /** A sample's counters since the session started and its gauges. */
        private record Reading(Map<String, Double> counters, Map<String, Double> gauges) {
            Map<String, Double> since(Map<String, Double> before) {
                Map<String, Double> row = new LinkedHashMap<>();
                counters.forEach((k, v) -> row.put(k, v - before.getOrDefault(k, 0.0)));
                row.putAll(gauges);
                return row;
            }
        }

        Sampler(Session s, AtomicLong archiveDropped) {
            this.s = s;
            this.archiveDropped = archiveDropped;
            this.startDelivered = s.eventsDelivered();
            rows.asFlux()
                    .concatMap(reading -> overhead.record(s.tenant(), s.vm(), s.id(), reading.since(stored.get()))
                            .timeout(WRITE_TIMEOUT)
                            .doOnSuccess(v -> stored.set(reading.counters()))
                            .onErrorResume(e -> {
                                log.warn("session {}: an overhead sample was not recorded (the next one carries its "
                                        + "counts): {}", s.id(), e.toString());
                                return Mono.empty();
                            }))
                    .subscribe();
        }

        void offer(OverheadSnapshot o, long delivered) {
            last.set(new Offered(o, delivered));
            if (rows.tryEmitNext(reading(o, delivered)).isFailure()) {
                log.warn("session {}: the database is behind; an overhead sample was left out", s.id());
            }
        }

        /** The last sample again, with what the archive dropped since it (its last batches end after it), if any. */
        @Override
        public void close() {
            Offered o = last.get();
            if (o != null && archiveDropped.get() > offered.get().getOrDefault("archive_dropped", 0.0)) {
                offer(o.sample(), o.delivered());
            }
            rows.tryEmitComplete();
        }

        private Reading reading(OverheadSnapshot o, long delivered) {
            Map<String, Double> counters = new LinkedHashMap<>();
            counters.put("seen", (double) o.hypervisorSeen());
            counters.put("filtered", (double) o.hypervisorFiltered());
            counters.put("ring_delivered", (double) (o.cr3Delivered() + o.syscallsDelivered()));
            counters.put("matched", (double) o.syscallsMatched());
            counters.put("delivered", (double) (delivered - startDelivered));
            counters.put("dropped", (double) (o.ringDropped() + o.sessionDropped()));
            counters.put("archive_dropped", (double) archiveDropped.get());
            counters.put("vcpu_wait_us", o.vcpuWait().toNanos() / 1000.0);
            counters.put("sync_timeouts", (double) o.syncTimeouts());
            counters.put("exits_paired", (double) o.exitsPaired());
            counters.put("exits_unmatched", (double) o.exitsUnmatched());
            counters.put("exits_lost", (double) o.exitsLost());
            double seconds = Math.max(1e-9, o.elapsed().toNanos() / 1e9);
            Map<String, Double> gauges = Map.of("estimated_slowdown", o.estimatedSlowdown(),
                    "events_per_s", counters.get("delivered") / seconds);
            Reading reading = new Reading(Map.copyOf(counters), gauges);
            Map<String, Double> sample = reading.since(offered.getAndSet(reading.counters()));
            VmId vm = vm(s);
            metrics.events(vm, FleetMetrics.EventKind.SEEN, sample.get("seen"));
            metrics.events(vm, FleetMetrics.EventKind.FILTERED, sample.get("filtered"));
            metrics.events(vm, FleetMetrics.EventKind.DELIVERED, sample.get("delivered"));
            metrics.events(vm, FleetMetrics.EventKind.DROPPED, sample.get("dropped"));
            metrics.vcpuWait(vm, Duration.ofNanos((long) (sample.get("vcpu_wait_us") * 1000)));
            return reading;
        }
    }

    /**
     * Switches off what an earlier server or agent left armed in {@code vm}'s hypervisor extension, unless a session
     * of its agent runs there; never fails.
     */
    Mono<Boolean> disarm(String vm) {
        return Mono.justOrEmpty(VmId.parse(vm)).flatMap(id -> Mono.justOrEmpty(agents.host(id.host()))
                        .flatMap(link -> link.disarm(id.name())))
                .doOnNext(was -> {
                    if (was) {
                        log.warn("{}: its event ring was left armed: switched off", vm);
                    }
                })
                .onErrorReturn(false)
                .defaultIfEmpty(false);
    }
}
