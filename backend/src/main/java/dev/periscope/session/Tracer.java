package dev.periscope.session;

import dev.periscope.overhead.Overhead;
import dev.periscope.syscall.SyscallArchive;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEnd;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.BufferOverflowStrategy;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SynchronousSink;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Runs the engine side of a trace session: opens {@link VmiEngine#trace} on the engine scheduler, publishes its
 * events into the session's {@link EventHub} ({@link SessionEvent.TraceStarted}, then
 * {@link SessionEvent.Syscall}, {@link SessionEvent.ProcessChange} and {@link SessionEvent.Dropped}), appends the syscalls to the {@link SyscallArchive}, records overhead samples every second and
 * closes the engine trace whenever the session's runner ends: stop, limits, VM gone, server shutdown (all of them
 * cancel or complete the Mono this returns).
 *
 * <p>Nothing here runs on the ring thread beyond handing an event over: events are moved to the parallel
 * scheduler through a bounded queue (a slow server makes the engine's session buffer drop, and the engine reports
 * it with a drop marker), and the archive has a bounded buffer of its own, so a slow database costs archive rows
 * (counted in the {@code archive_dropped} sample), never the live stream.
 */
@Component
class Tracer {

    private static final Logger log = LoggerFactory.getLogger(Tracer.class);
    static final int HAND_OVER = 1024;
    static final int ARCHIVE_BUFFER = 8192;
    static final int ARCHIVE_BATCH = 512;

    private final VmiEngine engine;
    private final Scheduler engineReads;
    private final SyscallArchive archive;
    private final Overhead overhead;
    private final SessionStore store;

    Tracer(VmiEngine engine, Scheduler engineReads, SyscallArchive archive, Overhead overhead, SessionStore store) {
        this.engine = engine;
        this.engineReads = engineReads;
        this.archive = archive;
        this.overhead = overhead;
        this.store = store;
    }

    /** The engine request for a stored session. */
    static TraceRequest request(Session s) {
        TraceRequest r = s.targetPid() != null ? TraceRequest.pid(s.targetPid()) : TraceRequest.process(s.targetProcess());
        return r.withMethod(s.method());
    }

    /**
     * Traces {@code s} until the engine ends the trace (target exited, VM gone, or its {@code maxEvents} were
     * delivered); cancelling the returned Mono closes the engine trace.
     */
    Mono<Sessions.Outcome> run(Session s, EventHub hub) {
        return Mono.using(() -> engine.trace(s.vm(), request(s)), trace -> run(s, hub, trace), TraceSession::close)
                .subscribeOn(engineReads);
    }

    /** The pipeline over one open engine trace (package-private for the stream tests). */
    Mono<Sessions.Outcome> run(Session s, EventHub hub, TraceSession trace) {
        Set<String> only = Set.copyOf(s.syscalls());
        AtomicLong delivered = new AtomicLong(s.eventsDelivered());
        AtomicLong archiveDropped = new AtomicLong();
        Clock clock = new Clock();
        hub.publish(new SessionEvent.TraceStarted(trace.pid(), trace.processName(), trace.method(),
                trace.method().description(), s.syscalls(), trace.syscallTable().toString()));

        Flux<SyscallArchive.SyscallRecord> toArchive = trace.events()
                .publishOn(Schedulers.parallel(), HAND_OVER)
                .handle((TraceEvent e, SynchronousSink<SyscallArchive.SyscallRecord> sink) -> {
                    switch (e) {
                        case TraceEvent.Syscall call -> {
                            if (!only.isEmpty() && !only.contains(call.name())) {
                                return;
                            }
                            SessionEvent.Syscall view = SessionEvent.Syscall.of(call, clock.at(call.timestampNs()));
                            hub.publish(view);
                            sink.next(record(s, call, view.time()));
                            if (delivered.incrementAndGet() >= s.maxEvents()) {
                                trace.close();
                            }
                        }
                        case TraceEvent.Dropped d -> hub.publish(new SessionEvent.Dropped(d.count(), switch (d.site()) {
                            case HYPERVISOR_RING -> SessionEvent.DropSite.HYPERVISOR_RING;
                            case SESSION_BUFFER -> SessionEvent.DropSite.SESSION_BUFFER;
                        }));
                        case TraceEvent.ProcessChange c -> hub.publish(new SessionEvent.ProcessChange(c.change(),
                                c.pid(), c.process(), c.detail()));
                        case TraceEvent.Ended ended -> { }
                    }
                });
        Mono<Void> archived = toArchive
                .onBackpressureBuffer(ARCHIVE_BUFFER, lost -> archiveDropped.incrementAndGet(),
                        BufferOverflowStrategy.DROP_OLDEST)
                .bufferTimeout(ARCHIVE_BATCH, Duration.ofMillis(250))
                .concatMap(batch -> archive.append(batch).onErrorResume(e -> {
                    archiveDropped.addAndGet(batch.size());
                    log.warn("session {}: {} syscall records not archived: {}", s.id(), batch.size(), e.toString());
                    return Mono.empty();
                }), 1)
                .then();
        Sampler sampler = new Sampler(s, trace, delivered, archiveDropped);
        Mono<Sessions.Outcome> ended = archived
                .then(Mono.defer(sampler::sample))
                .then(Mono.fromSupplier(() -> outcome(s, trace, delivered.get())));
        Mono<Sessions.Outcome> sampling = Flux.interval(Duration.ofSeconds(1))
                .onBackpressureDrop()
                .concatMap(t -> sampler.sample())
                .then(Mono.never());
        return Mono.firstWithSignal(ended, sampling);
    }

    /** Why the engine trace ended, as the session's outcome. */
    static Sessions.Outcome outcome(Session s, TraceSession trace, long delivered) {
        if (delivered >= s.maxEvents()) {
            return new Sessions.Outcome(SessionEnd.MAX_EVENTS, "max events of " + s.maxEvents() + " reached");
        }
        TraceEnd end = trace.end().orElse(TraceEnd.of(TraceEnd.Reason.CLOSED));
        return switch (end.reason()) {
            case VM_GONE -> new Sessions.Outcome(SessionEnd.VM_GONE, "VM " + s.vm() + " went away: " + end.detail());
            case TARGET_EXITED -> new Sessions.Outcome(SessionEnd.TARGET_EXITED, "target process " + trace.pid()
                    + " (" + trace.processName() + ") exited");
            case ENGINE_CLOSED, CLOSED -> new Sessions.Outcome(SessionEnd.SHUTDOWN, "trace ended: " + end);
            case FAILED -> new Sessions.Outcome(SessionEnd.FAILED, "trace failed: " + end.detail());
        };
    }

    private static SyscallArchive.SyscallRecord record(Session s, TraceEvent.Syscall e, Instant at) {
        long[] a = new long[6];
        for (int i = 0; i < Math.min(6, e.args().size()); i++) {
            a[i] = e.args().get(i).value();
        }
        return new SyscallArchive.SyscallRecord(at, s.tenant(), s.vm(), s.id(), e.vcpu(), e.pid(), 0L, e.number(),
                a[0], a[1], a[2], a[3], a[4], a[5]);
    }

    /** Host monotonic nanoseconds (the engine's timestamps) to wall-clock instants. */
    static final class Clock {
        private final Instant wall = Instant.now();
        private final long mono = System.nanoTime();

        Instant at(long monotonicNs) {
            return wall.plusNanos(monotonicNs - mono);
        }
    }

    /**
     * One overhead sample a second: counters as deltas since the previous sample (so that a VM's totals add up
     * over sessions and its maximum is the busiest second), the slowdown estimate and the delivery rate as gauges.
     */
    private final class Sampler {
        private final Session s;
        private final TraceSession trace;
        private final AtomicLong delivered;
        private final AtomicLong archiveDropped;
        private final AtomicReference<Map<String, Double>> previous = new AtomicReference<>(Map.of());
        private final long startDelivered;

        Sampler(Session s, TraceSession trace, AtomicLong delivered, AtomicLong archiveDropped) {
            this.s = s;
            this.trace = trace;
            this.delivered = delivered;
            this.archiveDropped = archiveDropped;
            this.startDelivered = delivered.get();
        }

        Mono<Void> sample() {
            return Mono.fromSupplier(this::metrics)
                    .flatMap(m -> overhead.sample(s.tenant(), s.vm(), s.id(), m))
                    .then(Mono.defer(() -> store.delivered(s.id(), delivered.get())))
                    .onErrorResume(e -> Mono.empty());
        }

        private Map<String, Double> metrics() {
            OverheadSnapshot o = trace.overhead();
            Map<String, Double> counters = new LinkedHashMap<>();
            counters.put("seen", (double) o.hypervisorSeen());
            counters.put("filtered", (double) o.hypervisorFiltered());
            counters.put("ring_delivered", (double) (o.cr3Delivered() + o.syscallsDelivered()));
            counters.put("matched", (double) o.syscallsMatched());
            counters.put("delivered", (double) (delivered.get() - startDelivered));
            counters.put("dropped", (double) (o.ringDropped() + o.sessionDropped()));
            counters.put("archive_dropped", (double) archiveDropped.get());
            counters.put("vcpu_wait_us", o.vcpuWait().toNanos() / 1000.0);
            counters.put("sync_timeouts", (double) o.syncTimeouts());
            Map<String, Double> before = previous.getAndSet(Map.copyOf(counters));
            Map<String, Double> sample = new LinkedHashMap<>();
            counters.forEach((k, v) -> sample.put(k, v - before.getOrDefault(k, 0.0)));
            double seconds = Math.max(1e-9, o.elapsed().toNanos() / 1e9);
            sample.put("estimated_slowdown", o.estimatedSlowdown());
            sample.put("events_per_s", counters.get("delivered") / seconds);
            return sample;
        }
    }

    /** Runs {@code action} for its side effect on the engine scheduler, never failing the caller. */
    Mono<Boolean> onEngine(Supplier<Boolean> action) {
        return Mono.fromSupplier(action).subscribeOn(engineReads).onErrorReturn(false);
    }

    /**
     * Switches off what an earlier server left armed in {@code vm}'s hypervisor extension (its ring's filters,
     * modes and breakpoints), unless a trace of this server runs there.
     */
    Mono<Boolean> disarm(String vm) {
        return onEngine(() -> engine.disarmEvents(vm)).doOnNext(was -> {
            if (was) {
                log.warn("{}: its event ring was left armed by an earlier server: switched off", vm);
            }
        });
    }
}
