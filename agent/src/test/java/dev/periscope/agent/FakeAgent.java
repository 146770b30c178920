package dev.periscope.agent;

import dev.periscope.agent.api.CloseSessionRequest;
import dev.periscope.agent.api.DisarmReply;
import dev.periscope.agent.api.DisarmRequest;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.agent.session.AgentSessions;
import dev.periscope.agent.session.SubscriberStream;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.trace.SyntheticTraceRig;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.function.Supplier;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.Capability;
import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.KernelProfile;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.agent.api.Platform;
import dev.periscope.agent.api.Process;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.Visibility;
import dev.periscope.agent.api.WatchDomainsRequest;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A fake agent, for tests and benchmarks of the control plane without VMs: it speaks the real agent API (in-process
 * gRPC, or mutual TLS on a port: {@link #overTls}; the real error trailers; the real agent-side sessions with their
 * streams) but its engine answers from what the test set: the host's VMs, per VM and mode a process list or a failure,
 * and traces over a {@link SyntheticTraceRig} per VM (the real trace machinery on a synthetic guest: init 1, sh 300,
 * busy 400; {@link #rig} drives it). The real agent ({@link HostAgent}) has its own tests and runs under the
 * multi-host and lab tests.
 */
public final class FakeAgent implements AutoCloseable {

    private final String host;
    private final String name;
    private Server server;
    private final ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor();
    private final List<StreamObserver<DomainsUpdate>> watchers = new CopyOnWriteArrayList<>();
    private final Map<String, Object> answers = new ConcurrentHashMap<>();
    private final List<ListProcessesRequest> calls = new CopyOnWriteArrayList<>();
    private final List<String> disarms = new CopyOnWriteArrayList<>();
    private volatile List<Domain> domains = List.of();
    private volatile boolean silent;
    private volatile Duration traceStart = Duration.ZERO;
    private final Map<String, SyntheticTraceRig> rigs = new ConcurrentHashMap<>();
    private final Scheduler engineCalls = Schedulers.newBoundedElastic(4, 256, "fake-agent-engine");
    private final Scheduler dispatch = Schedulers.newParallel("fake-agent-dispatch", 2);
    private final AgentSessions sessions = new AgentSessions(new Engine(), engineCalls, dispatch,
            AgentSessions.Limits.DEFAULT);

    public FakeAgent(String host) {
        this(host, "fake-agent-" + host + "-" + System.nanoTime());
    }

    /** A fake agent served in-process under {@code name} (a second one under the same name is that agent back). */
    public FakeAgent(String host, String name) {
        this.host = host;
        this.name = name;
        serve(InProcessServerBuilder.forName(name));
        heartbeat.scheduleWithFixedDelay(this::broadcast, 1, 1, TimeUnit.SECONDS);
    }

    /** A fake agent on {@code listen} over mutual TLS, as a real agent runs ({@link #port()} tells the port). */
    public static FakeAgent overTls(String host, InetSocketAddress listen, TlsFiles tls) {
        FakeAgent agent = new FakeAgent(host, "fake-agent-tls-" + host + "-" + System.nanoTime());
        agent.server.shutdownNow();
        agent.serve(NettyServerBuilder.forAddress(listen, tls.server()));
        return agent;
    }

    private void serve(ServerBuilder<?> builder) {
        try {
            server = builder.addService(new Service()).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Where it listens over TLS (-1 in-process). */
    public int port() {
        return server.getPort();
    }

    public String host() {
        return host;
    }

    /** The address a control plane's {@code periscope.fleet.agents} takes for the in-process fake. */
    public String address() {
        return "in-process:" + name;
    }

    /** How many VMs it reports now. */
    public int vmCount() {
        return domains.size();
    }

    /** A VM of this host. */
    public static Domain vm(String name, String tenant, boolean running, long memoryMib, Capability... capabilities) {
        return Domain.newBuilder().setName(name).setTenant(tenant).setPlatform("qemu-lab").setRunning(running)
                .setMemoryBytes(memoryMib << 20).setKernelVersion(running ? "6.1.0-56-amd64" : "").setWorkload("paper")
                .addAllCapabilities(List.of(capabilities)).build();
    }

    /** The host's VMs from now on (sent to watchers at once). */
    public void vms(Domain... vms) {
        domains = List.of(vms);
        broadcast();
    }

    /** What a list of {@code vm} in {@code mode} answers: a list of these processes. */
    public void answer(String vm, AcquisitionMode mode, List<Process> processes, List<String> warnings) {
        answers.put(vm + " " + mode, ProcessList.newBuilder().setVm(vm).setKernelVersion("6.1.0-56-amd64").setMode(mode)
                .setConsistent(mode != AcquisitionMode.LIVE).setTakenAt(com.google.protobuf.Timestamp.newBuilder()
                        .setSeconds(1_795_000_000L)).setGuestDowntime(millis(3)).setSnapshotAge(millis(0))
                .setReadTime(millis(2)).addAllProcesses(processes).addAllWarnings(warnings)
                .setProfile(KernelProfile.newBuilder().setBanner("Linux version 6.1.0-56-amd64 (fake)")
                        .setRelease("6.1.0-56-amd64").setSymbols(94_266).setBtfTypes(120_000)).build());
    }

    /** The same list of these processes in every mode. */
    public void answerAll(String vm, List<Process> processes) {
        for (AcquisitionMode mode : List.of(AcquisitionMode.SNAPSHOT, AcquisitionMode.PAUSE, AcquisitionMode.LIVE)) {
            answer(vm, mode, processes, List.of());
        }
    }

    /** The synthetic VM that {@code vm}'s traces run on (made on first use). */
    public SyntheticTraceRig rig(String vm) {
        return rigs.computeIfAbsent(vm, name -> new SyntheticTraceRig(name, 16_384));
    }

    /** What a list of {@code vm} in {@code mode} answers: this failure, as the real agent reports it. */
    public void fail(String vm, AcquisitionMode mode, RuntimeException failure) {
        answers.put(vm + " " + mode, failure);
    }

    /** A listed process as a real agent sends it: its comm is its name cut to the kernel's 15 characters. */
    public static Process process(int pid, int ppid, String name, boolean kernelThread, String... argv) {
        return Process.newBuilder().setPid(pid).setPpid(ppid).setName(name)
                .setComm(name.substring(0, Math.min(name.length(), 15))).addAllArgv(List.of(argv)).setState("S")
                .setCr3(kernelThread ? 0 : 0x1234000L + pid * 0x2000L).setKernelThread(kernelThread).addThreads(pid)
                .setVisibility(Visibility.LISTED).build();
    }

    /** The process lists the control plane asked for. */
    public List<ListProcessesRequest> calls() {
        return new ArrayList<>(calls);
    }

    private static com.google.protobuf.Duration millis(long ms) {
        return com.google.protobuf.Duration.newBuilder().setNanos((int) (ms * 1_000_000)).build();
    }

    /** How long a trace takes to start from now on (a real agent's first trace on a slow host: seconds). */
    public void traceStart(Duration startTime) {
        traceStart = startTime;
    }

    /** The VMs the control plane asked to disarm, in order. */
    public List<String> disarms() {
        return List.copyOf(disarms);
    }

    /** Stops (or resumes) sending anything on its VM watches, as a hung or cut-off agent would. */
    public void silent(boolean silent) {
        this.silent = silent;
    }

    private void broadcast() {
        if (silent) {
            return;
        }
        DomainsUpdate update = DomainsUpdate.newBuilder().addAllDomains(domains)
                .setHeartbeat(com.google.protobuf.Duration.newBuilder().setSeconds(2)).build();
        for (StreamObserver<DomainsUpdate> w : watchers) {
            synchronized (w) {
                try {
                    w.onNext(update);
                } catch (RuntimeException cancelled) {
                    watchers.remove(w);
                }
            }
        }
    }

    private final class Service extends AgentGrpc.AgentImplBase {
        @Override
        public void getInfo(GetInfoRequest request, StreamObserver<HostInfo> out) {
            out.onNext(HostInfo.newBuilder().setHost(host).setAgentVersion("fake")
                    .addPlatforms(Platform.newBuilder().setName("qemu-lab")).build());
            out.onCompleted();
        }

        @Override
        public void watchDomains(WatchDomainsRequest request, StreamObserver<DomainsUpdate> out) {
            watchers.add(out);
            broadcast();
        }

        @Override
        public void listProcesses(ListProcessesRequest request, StreamObserver<ProcessList> out) {
            calls.add(request);
            answer(out, () -> list(request.getVm(), request.getMode()));
        }

        @Override
        public void openSession(OpenSessionRequest request, StreamObserver<SessionInfo> out) {
            engineCalls.schedule(() -> answer(out, () -> sessions.open(request)));
        }

        @Override
        public void streamSessionBatches(StreamSessionRequest request, StreamObserver<SessionMessages> out) {
            stream(request, out, () -> SubscriberStream.batches((ServerCallStreamObserver<SessionMessages>) out));
        }

        @Override
        public void streamSession(StreamSessionRequest request, StreamObserver<SessionMessage> out) {
            stream(request, out, () -> SubscriberStream.oneByOne((ServerCallStreamObserver<SessionMessage>) out));
        }

        private void stream(StreamSessionRequest request, StreamObserver<?> out, Supplier<SubscriberStream> stream) {
            try {
                sessions.stream(request.getId(), request.getAfterSeq(), stream.get());
            } catch (RuntimeException e) {
                out.onError(AgentErrors.status(e));
            }
        }

        @Override
        public void closeSession(CloseSessionRequest request, StreamObserver<SessionInfo> out) {
            answer(out, () -> sessions.close(request.getId()));
        }

        @Override
        public void disarm(DisarmRequest request, StreamObserver<DisarmReply> out) {
            answer(out, () -> {
                disarms.add(request.getVm());
                return DisarmReply.getDefaultInstance();
            });
        }

        private <T> void answer(StreamObserver<T> out, Supplier<T> call) {
            T result;
            try {
                result = call.get();
            } catch (RuntimeException e) {
                out.onError(AgentErrors.status(e));
                return;
            }
            out.onNext(result);
            out.onCompleted();
        }
    }

    private ProcessList list(String vm, AcquisitionMode mode) {
        return switch (answers.get(vm + " " + mode)) {
            case ProcessList list -> list;
            case RuntimeException failure -> throw failure;
            case null -> throw new VmGoneException("the test set no answer for " + vm + " " + mode);
            default -> throw new IllegalStateException();
        };
    }

    /** The engine of this agent: canned lists, traces on the rigs. */
    private final class Engine extends SessionEngine {
        @Override
        public TraceSession trace(String vm, TraceRequest request) {
            try {
                Thread.sleep(traceStart);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while starting a trace", e);
            }
            return rig(vm).open(request);
        }

        @Override
        public ProcessList processes(String vm, dev.periscope.vmi.AcquisitionMode mode) {
            return list(vm, AcquisitionMode.valueOf(mode.name()));
        }

    }

    @Override
    public void close() {
        heartbeat.shutdownNow();
        server.shutdownNow();
        sessions.close();
        rigs.values().forEach(SyntheticTraceRig::close);
        engineCalls.dispose();
        dispatch.dispose();
    }
}
