package dev.periscope.fleet;

import dev.periscope.agent.CallerLog;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.CloseSessionRequest;
import dev.periscope.agent.api.DisarmRequest;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.agent.api.WatchDomainsRequest;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.trace.TraceMethod;
import io.grpc.CallOptions;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.publisher.Mono;

/**
 * The control plane's link to one agent (the control plane's side of the agent API): it keeps the agent's VM list
 * current from its watch stream, says whether the agent is reachable (a silent watch for {@code unreachableAfter}, or
 * a broken one, makes it unreachable; it reconnects on its own), and makes the calls as Reactor types with the
 * agent's failures read back into the engine's exceptions ({@link Wire#failure}). Calls never block: gRPC's
 * asynchronous stubs, with flow control passed through to streams.
 *
 * <p>Each connection attempt binds the link to what the agent's certificate says ({@link AgentBinding}): a tenant's
 * monitor, or an agent of every tenant; a certificate that binds it to no tenant it can name leaves the link
 * {@link State#REFUSED}, with nothing of the agent used. Every other call delivers its answer only when it came from an
 * agent bound as the link is ({@link AgentCertificateCheck}), so a request meant for one tenant's monitor is never
 * answered by another's, even when another agent took over the address.
 */
public final class AgentLink implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AgentLink.class);
    /** How soon a lost agent is tried again (and again, every time, until it answers or is forgotten). */
    private static final Duration RECONNECT = Duration.ofSeconds(1);
    /**
     * How many of a session stream's batches are asked for ahead of its subscriber: at most 4 x 256 KiB wait here, and
     * one is always on its way (with 2, the agent waited for each request between batches: a third fewer events/s).
     */
    private static final int BATCHES_AHEAD = 4;

    /**
     * Whether the agent answers; REFUSED: it answered, but its certificate binds it to no tenant the control plane can
     * name (two tenants, a malformed tenant URN), so nothing of it is used.
     */
    public enum State { CONNECTING, CONNECTED, UNREACHABLE, REFUSED }

    /** Who a call is made for (the agent logs it). */
    public record Actor(String name, String tenant) {
        public static final Actor CONTROL_PLANE = new Actor("periscope", "");
    }

    /** The agent as last seen; {@code binding} is what its certificate said at the last connection. */
    public record Status(String address, State state, Optional<HostInfo> info, Instant lastSeen, String lastError,
                         AgentBinding binding, List<HostedVm> vms) {
    }

    /** The option that marks a connection attempt's calls (its generation): they bind the link. */
    private static final CallOptions.Key<Long> ATTEMPT = CallOptions.Key.create("periscope-connection-attempt");

    private final String address;
    private final ManagedChannel channel;
    private final AgentGrpc.AgentStub stub;
    private final Duration unreachableAfter;
    private final Duration callTimeout;
    private final ScheduledExecutorService timers;
    private final Consumer<AgentLink> onChange;
    private volatile Status status;
    private final ScheduledFuture<?> silenceCheck;
    private ClientCallStreamObserver<WatchDomainsRequest> watch; // guarded by this
    private long generation; // guarded by this
    private volatile boolean closed;

    AgentLink(String address, ManagedChannel channel, Duration unreachableAfter, Duration callTimeout,
              ScheduledExecutorService timers, Consumer<AgentLink> onChange) {
        this.address = address;
        this.channel = channel;
        this.stub = AgentGrpc.newStub(ClientInterceptors.intercept(channel,
                new AgentCertificateCheck(new Admission())));
        this.unreachableAfter = unreachableAfter;
        this.callTimeout = callTimeout;
        this.timers = timers;
        this.onChange = onChange;
        this.status = new Status(address, State.CONNECTING, Optional.empty(), null, "", AgentBinding.UNBOUND,
                List.of());
        this.silenceCheck = timers.scheduleWithFixedDelay(this::checkSilence, 1, 1, TimeUnit.SECONDS);
        connect();
    }

    public String address() {
        return address;
    }

    public Status status() {
        return status;
    }

    public State state() {
        return status.state();
    }

    /** What the agent's certificate bound it to at its last connection. */
    public AgentBinding binding() {
        return status.binding();
    }

    /** The host name the agent reported; empty until it answered once. */
    public Optional<String> host() {
        return status.info().map(HostInfo::getHost);
    }

    private String hostOrAddress() {
        return host().orElse(address);
    }

    // ------------------------------------------------------------------ the watch

    /**
     * One attempt: GetInfo, then the VM watch. Each attempt has a generation; the callbacks of an attempt that was
     * given up (lost, or superseded) are ignored, so exactly one watch runs at a time.
     */
    private void connect() {
        long g;
        synchronized (this) {
            if (closed) {
                return;
            }
            g = ++generation;
        }
        stub.withOption(ATTEMPT, g).withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS)
                .getInfo(GetInfoRequest.getDefaultInstance(), new StreamObserver<>() {
                    @Override
                    public void onNext(HostInfo info) {
                        if (!current(g)) {
                            return;
                        }
                        // the binding: set from this call's own certificate before its answer came
                        Optional<String> refused = status.binding().refusesHost(info.getHost());
                        if (refused.isPresent()) {
                            lost(g, State.REFUSED, refused.get());
                            return;
                        }
                        update(s -> new Status(address, s.state(), Optional.of(info), s.lastSeen(),
                                s.lastError(), s.binding(), s.vms()));
                        watch(g, info.getHost());
                    }

                    @Override
                    public void onError(Throwable t) {
                        lost(g, State.UNREACHABLE, Wire.failure(hostOrAddress(), t).getMessage());
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
    }

    private void watch(long g, String host) {
        stub.withOption(ATTEMPT, g).watchDomains(WatchDomainsRequest.getDefaultInstance(),
                new ClientResponseObserver<WatchDomainsRequest, DomainsUpdate>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<WatchDomainsRequest> call) {
                synchronized (AgentLink.this) {
                    watch = call;
                }
            }

            @Override
            public void onNext(DomainsUpdate update) {
                if (current(g)) {
                    // the watch's binding: set from this call's own certificate before its first update came
                    AgentBinding binding = status.binding();
                    List<HostedVm> vms = update.getDomainsList().stream().map(d -> Wire.vm(host, d, true, binding))
                            .toList();
                    update(s -> new Status(address, State.CONNECTED, s.info(), Instant.now(), "", binding, vms));
                }
            }

            @Override
            public void onError(Throwable t) {
                lost(g, State.UNREACHABLE, Wire.failure(host, t).getMessage());
            }

            @Override
            public void onCompleted() {
                lost(g, State.UNREACHABLE, "the agent ended its VM watch (shutting down)");
            }
        });
    }

    private synchronized boolean current(long g) {
        return g == generation && !closed;
    }

    /** A connected agent that has been silent too long is unreachable, whatever TCP thinks. */
    private void checkSilence() {
        Status s = status;
        long g;
        synchronized (this) {
            g = generation;
        }
        if (s.state() == State.CONNECTED && s.lastSeen() != null
                && Duration.between(s.lastSeen(), Instant.now()).compareTo(unreachableAfter) > 0) {
            lost(g, State.UNREACHABLE, "silent for " + unreachableAfter.toSeconds() + " s");
        }
    }

    /**
     * Attempt {@code g} failed: the agent is unreachable (its VMs shown as last seen) or refused (none of its VMs
     * shown); its watch is cancelled and a new attempt follows.
     */
    private void lost(long g, State state, String why) {
        ClientCallStreamObserver<WatchDomainsRequest> call;
        synchronized (this) {
            if (g != generation || closed) {
                return;
            }
            generation++; // this attempt's late callbacks are ignored from now on
            call = watch;
            watch = null;
        }
        if (call != null) {
            call.cancel("agent lost: " + why, null);
        }
        if (status.state() != state) {
            if (state == State.REFUSED) {
                log.error("agent {} ({}) refused: {}", hostOrAddress(), address, why);
            } else {
                log.warn("agent {} ({}) unreachable: {}", hostOrAddress(), address, why);
            }
        }
        update(s -> new Status(address, state, s.info(), s.lastSeen(), why, s.binding(), state == State.REFUSED
                ? List.of() : s.vms().stream().map(HostedVm::unreachable).toList()));
        timers.schedule(this::connect, RECONNECT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void update(UnaryOperator<Status> change) {
        Status before;
        Status after;
        synchronized (this) {
            before = status;
            after = change.apply(before);
            status = after;
        }
        if (before.state() != after.state() || !before.vms().equals(after.vms())) {
            if (before.state() != State.CONNECTED && after.state() == State.CONNECTED) {
                log.info("agent {} ({}) connected: {} VMs", hostOrAddress(), address, after.vms().size());
            }
            onChange.accept(this);
        }
    }

    /**
     * What the agent's certificate means for a call: a connection attempt's calls bind the link to it (a new binding
     * forgets the VMs the other one reported) or refuse the agent; any other call is answered only by an agent bound
     * as the link is.
     */
    private final class Admission implements AgentCertificateCheck.Admission {
        @Override
        public Optional<String> admit(CallOptions call, AgentBinding binding) {
            Long attempt = call.getOption(ATTEMPT);
            if (attempt != null) {
                if (current(attempt)) {
                    update(s -> s.binding().equals(binding) ? s : new Status(address, s.state(), s.info(), s.lastSeen(),
                            s.lastError(), binding, List.of()));
                }
                return Optional.empty();
            }
            AgentBinding linked = status.binding();
            return linked.equals(binding) ? Optional.empty() : Optional.of("the agent at " + address + " now presents "
                    + describe(binding) + ", not " + describe(linked) + " as when it connected; its answer is dropped");
        }

        @Override
        public Optional<String> refuse(CallOptions call, AgentRefusedException why) {
            Long attempt = call.getOption(ATTEMPT);
            if (attempt != null) {
                lost(attempt, State.REFUSED, why.getMessage());
            }
            return Optional.of("the agent at " + address + " is refused: " + why.getMessage());
        }

        private static String describe(AgentBinding binding) {
            return binding.tenant().map(t -> "a certificate of tenant " + t + "'s agent")
                    .orElse("a certificate of an agent of every tenant");
        }
    }

    // ------------------------------------------------------------------ calls

    private AgentGrpc.AgentStub stub(Actor actor) {
        Metadata headers = new Metadata();
        headers.put(CallerLog.ACTOR, actor.name());
        headers.put(CallerLog.TENANT, actor.tenant() == null ? "" : actor.tenant());
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    private AgentGrpc.AgentStub unaryStub(Actor actor) {
        return stub(actor).withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** A process list of {@code vm} read in {@code mode}, and the kernel it was read from. */
    public Mono<AgentMessage.Processes> processes(String vm, AcquisitionMode mode, Actor actor) {
        ListProcessesRequest request = ListProcessesRequest.newBuilder().setVm(vm).setMode(Wire.mode(mode)).build();
        return unary(unaryStub(actor)::listProcesses, request)
                .map(p -> new AgentMessage.Processes(Wire.processList(p), Wire.kernel(p)));
    }

    /**
     * Opens (or finds again) session {@code id} on {@code vm}; a session the agent no longer runs starts again,
     * numbering its messages on after {@code resumeAfter}.
     */
    public Mono<AgentSessionSpec.Opened> open(String id, String vm, long resumeAfter, AgentSessionSpec spec,
                                              Actor actor) {
        return unary(unaryStub(actor)::openSession, Wire.open(id, vm, resumeAfter, spec))
                .map(info -> new AgentSessionSpec.Opened(info.getPid(), info.getProcessName(), info.getSyscallNames()));
    }

    /**
     * A session's messages after {@code afterSeq}, read as fast as the subscriber asks (flow control end to end). The
     * agent sends them in batches; an agent of an earlier release, which has no batches, one by one.
     */
    public Flux<AgentMessage> stream(String id, String vm, TraceMethod method, long afterSeq, Actor actor) {
        StreamSessionRequest request = StreamSessionRequest.newBuilder().setId(id).setAfterSeq(afterSeq).build();
        // demand counts batches, a few at a time (what waits here is a few batches' messages), and what came before
        // a failure (the agent lost) is delivered before it
        Flux<SessionMessage> batched = serverStream(stub(actor)::streamSessionBatches, request)
                .concatMapDelayError(batch -> Flux.fromIterable(batch.getMessagesList()), true, BATCHES_AHEAD);
        return batched.onErrorResume(AgentLink::unimplemented, e -> serverStream(stub(actor)::streamSession, request))
                .map(m -> Wire.message(vm, m, method));
    }

    /** Whether the agent does not know the call: it answers so at once, before any message. */
    private static boolean unimplemented(Throwable e) {
        return io.grpc.Status.fromThrowable(e).getCode() == io.grpc.Status.Code.UNIMPLEMENTED;
    }

    /** Ends session {@code id} on the agent; its end follows on its stream. */
    public Mono<Void> close(String id, Actor actor) {
        return unary(unaryStub(actor)::closeSession, CloseSessionRequest.newBuilder().setId(id).build()).then();
    }

    /** Switches off what {@code vm}'s hypervisor extension traps (unless a session of the agent runs there). */
    public Mono<Boolean> disarm(String vm) {
        return unary(unaryStub(Actor.CONTROL_PLANE)::disarm, DisarmRequest.newBuilder().setVm(vm).build())
                .map(r -> r.getWasArmed());
    }

    private <Q, A> Mono<A> unary(BiConsumer<Q, StreamObserver<A>> call, Q request) {
        return Mono.create(sink -> call.accept(request, new ClientResponseObserver<Q, A>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<Q> c) {
                sink.onCancel(() -> c.cancel("the caller gave up", null));
            }

            @Override
            public void onNext(A answer) {
                sink.success(answer);
            }

            @Override
            public void onError(Throwable t) {
                sink.error(Wire.failure(hostOrAddress(), t));
            }

            @Override
            public void onCompleted() {
                sink.success();
            }
        }));
    }

    private <Q, A> Flux<A> serverStream(BiConsumer<Q, StreamObserver<A>> call, Q request) {
        return Flux.create(sink -> {
            AtomicReference<ClientCallStreamObserver<Q>> started = new AtomicReference<>();
            call.accept(request, new ClientResponseObserver<Q, A>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<Q> c) {
                    c.disableAutoRequestWithInitial(0);
                    started.set(c);
                }

                @Override
                public void onNext(A message) {
                    sink.next(message);
                }

                @Override
                public void onError(Throwable t) {
                    sink.error(Wire.failure(hostOrAddress(), t));
                }

                @Override
                public void onCompleted() {
                    sink.complete();
                }
            });
            // the call has started now: only now may demand reach it (the subscriber's first request is replayed here)
            ClientCallStreamObserver<Q> c = started.get();
            sink.onRequest(n -> c.request((int) Math.min(n, Integer.MAX_VALUE)));
            sink.onCancel(() -> c.cancel("the subscriber went away", null));
        }, FluxSink.OverflowStrategy.BUFFER);
    }

    @Override
    public void close() {
        ClientCallStreamObserver<WatchDomainsRequest> call;
        synchronized (this) {
            closed = true;
            call = watch;
        }
        silenceCheck.cancel(false);
        update(s -> new Status(address, State.UNREACHABLE, s.info(), s.lastSeen(), "no longer discovered",
                s.binding(), s.vms().stream().map(HostedVm::unreachable).toList()));
        if (call != null) {
            call.cancel("link closed", null);
        }
        channel.shutdownNow();
    }
}
