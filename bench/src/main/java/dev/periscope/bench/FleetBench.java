package dev.periscope.bench;

import dev.periscope.agent.AgentServer;
import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.HostAgent;
import dev.periscope.agent.TlsFiles;
import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.trace.SyntheticTraceRig;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import reactor.core.Disposable;

/**
 * The fleet's costs, each beside today's in-process path measured in the same run (bench/fleet.sh runs both):
 * <ul>
 *   <li>{@code processes}: a warm LIVE process list of a lab VM through the agent API on loopback (mutual TLS, the real
 *       agent over the real lab driver) and in-process, against the engine's own call (target: p50 <= 5 ms, p99 <= 20
 *       ms through the API);</li>
 *   <li>{@code trace}: trace events agent -> control plane -> SSE: the fake agent's real trace machinery (a synthetic
 *       guest's ring fed by a producer thread at a set rate) behind mutual TLS on loopback, the real control-plane
 *       server (its jar, a process of its own) following the session, and an SSE client here counting what arrives,
 *       with the server's resident memory sampled every second; beside it the engine's own session consumed in this
 *       JVM at the same rate (target: >= 100,000 events/s per agent, memory flat).</li>
 * </ul>
 * Usage: {@code FleetBench processes --vm NAME --var DIR --pki DIR [--n 300]};
 * {@code FleetBench trace --server-jar JAR --pki DIR --rate N --seconds S [--out FILE]}.
 */
public final class FleetBench {

    private FleetBench() {
    }

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0) {
            throw new IllegalArgumentException("usage: FleetBench processes|trace --name value ...");
        }
        Map<String, String> a = Stats.args(Arrays.copyOfRange(argv, 1, argv.length));
        Map<String, Object> result = switch (argv[0]) {
            case "processes" -> processes(a);
            case "trace" -> trace(a);
            default -> throw new IllegalArgumentException("unknown benchmark " + argv[0]);
        };
        Path out = Path.of(a.getOrDefault("out", Guest.varDir().resolve("bench/fleet-" + argv[0] + ".json").toString()));
        Stats.writeJson(out, result);
        System.out.println("wrote " + out);
    }

    // ------------------------------------------------------------------ process lists

    private static Map<String, Object> processes(Map<String, String> a) throws Exception {
        String vm = a.getOrDefault("vm", Guest.vm());
        Path var = Path.of(a.getOrDefault("var", Guest.varDir().toString()));
        Path pki = Path.of(a.getOrDefault("pki", var.resolve("pki").toString()));
        int n = Integer.parseInt(a.getOrDefault("n", "300"));
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("vm", vm);
        result.put("n", n);
        try (LabDriver driver = new LabDriver(var); VmiEngine engine = new VmiEngine(driver)) {
            result.put("engine", measure("engine, in-process call", n,
                    () -> engine.processes(vm, dev.periscope.vmi.AcquisitionMode.LIVE).processes().size()));
        }
        ListProcessesRequest request = ListProcessesRequest.newBuilder().setVm(vm).setMode(AcquisitionMode.LIVE).build();
        try (LabDriver driver = new LabDriver(var);
             HostAgent agent = new HostAgent("bench", driver, HostAgent.Settings.DEFAULT);
             AgentServer inProcess = AgentServer.inProcess(agent, "fleet-bench");
             AgentServer overTls = AgentServer.overTls(agent, new InetSocketAddress("127.0.0.1", 0),
                     ServerProcess.tls(pki, "agent-bench"))) {
            ManagedChannel local = InProcessChannelBuilder.forName("fleet-bench").build();
            ManagedChannel loopback = Grpc.newChannelBuilder("127.0.0.1:" + overTls.port(),
                    ServerProcess.tls(pki, "control-plane").client()).overrideAuthority(TlsFiles.AGENT_NAME).build();
            try {
                var inProcessStub = AgentGrpc.newBlockingStub(local);
                var tlsStub = AgentGrpc.newBlockingStub(loopback);
                result.put("agentInProcess", measure("agent API, in-process", n,
                        () -> inProcessStub.listProcesses(request).getProcessesCount()));
                result.put("agentLoopbackTls", measure("agent API, loopback mutual TLS", n,
                        () -> tlsStub.listProcesses(request).getProcessesCount()));
            } finally {
                local.shutdownNow();
                loopback.shutdownNow();
            }
        }
        return result;
    }

    /** {@code n} calls after as many warm-up calls; prints and returns their latency summary. */
    private static Map<String, Object> measure(String label, int n, Supplier<Integer> call) {
        int processes = 0;
        for (int i = 0; i < n; i++) {
            processes = call.get();
        }
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            processes = call.get();
            ms.add(Stats.ms(System.nanoTime() - t0));
        }
        Map<String, Object> s = Stats.summary(ms);
        s.put("processes", processes);
        System.out.println(Stats.line("process list LIVE, " + label + " (" + processes + " processes)", s));
        return s;
    }

    // ------------------------------------------------------------------ trace events

    private static Map<String, Object> trace(Map<String, String> a) throws Exception {
        Path pki = Path.of(a.get("pki"));
        Path serverJar = Path.of(a.get("server-jar"));
        long rate = Long.parseLong(a.getOrDefault("rate", "100000"));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "20"));
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("rate", rate);
        result.put("seconds", seconds);
        result.put("engineInProcess", engineOnly(rate, seconds));
        result.put("agentControlPlaneSse", throughServer(pki, serverJar, rate, seconds));
        return result;
    }

    /** The engine's own session consumed in this JVM: the ceiling of every path above it. */
    private static Map<String, Object> engineOnly(long rate, int seconds) throws InterruptedException {
        try (SyntheticTraceRig rig = new SyntheticTraceRig("engine-bench", 16_384)) {
            AtomicLong received = new AtomicLong();
            AtomicLong dropped = new AtomicLong();
            try (TraceSession s = rig.open(TraceRequest.pid(300).withBufferSize(65_536))) {
                Disposable d = s.events().subscribe(e -> {
                    switch (e) {
                        case TraceEvent.Syscall c -> received.incrementAndGet();
                        case TraceEvent.Dropped x -> dropped.addAndGet(x.count());
                        default -> { }
                    }
                });
                Map<String, Object> r = run("engine, in-process session", rig, rate, seconds, received, dropped, null);
                d.dispose();
                return r;
            }
        }
    }

    /** The fake agent over mutual TLS, the real server as a process, an SSE client here. */
    private static Map<String, Object> throughServer(Path pki, Path serverJar, long rate, int seconds) throws Exception {
        try (FakeAgent agent = FakeAgent.overTls("bench-host", new InetSocketAddress("127.0.0.1", 0),
                ServerProcess.tls(pki, "agent-bench-host"))) {
            agent.vms(FakeAgent.vm("vm-1", "bench", true, 512));
            SyntheticTraceRig rig = agent.rig("vm-1");
            int port = Integer.parseInt(System.getProperty("periscope.bench.port", "18095"));
            try (ServerProcess server = ServerProcess.start(serverJar, pki, "127.0.0.1:" + agent.port(), port, "512m",
                    List.of("--periscope.sessions.default-max-events=100000000",
                            "--periscope.sessions.stream-buffer=4096"))) {
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                String token = server.awaitVm(http, "vm-1@bench-host");
                String session = server.openTrace(http, token, "vm-1@bench-host", 300, 3600);
                AtomicLong received = new AtomicLong();
                AtomicLong dropped = new AtomicLong();
                Map<String, Long> droppedWhere = new ConcurrentHashMap<>();
                AtomicBoolean reading = new AtomicBoolean(true);
                HttpResponse<InputStream> events = http.send(HttpRequest.newBuilder(URI.create(server.base()
                                + "/api/v1/sessions/" + session + "/events")).header("Authorization", "Bearer " + token)
                        .header("Accept", "text/event-stream").GET().build(), HttpResponse.BodyHandlers.ofInputStream());
                Thread reader = Thread.ofPlatform().name("sse-reader").start(() -> readSse(events.body(), received,
                        dropped, droppedWhere, reading));
                Map<String, Object> r = run("agent -> control plane -> SSE", rig, rate, seconds, received, dropped,
                        server);
                reading.set(false);
                reader.interrupt();
                r.put("reportedDroppedWhere", new TreeMap<>(droppedWhere));
                System.out.println("agent -> control plane -> SSE: dropped where " + new TreeMap<>(droppedWhere));
                return r;
            }
        }
    }

    /** Counts SSE syscall events and the losses the drop markers report, by where they were lost. */
    private static void readSse(InputStream in, AtomicLong received, AtomicLong dropped, Map<String, Long> droppedWhere,
                                AtomicBoolean reading) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16)) {
            String event = "";
            for (String line; reading.get() && (line = r.readLine()) != null; ) {
                if (line.startsWith("event:")) {
                    event = line.substring(6).strip();
                } else if (line.startsWith("data:")) {
                    if (event.equals("syscall")) {
                        received.incrementAndGet();
                    } else if (event.equals("dropped")) {
                        DropMarker marker = DropMarker.parse(line.substring(5));
                        dropped.addAndGet(marker.count());
                        droppedWhere.merge(marker.where(), marker.count(), Long::sum);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // the stream ended with the benchmark
        }
    }

    /**
     * Feeds the rig's ring with syscalls of pid 300 at {@code rate} per second for {@code seconds}, sampling what the
     * consumer received every second (and the resident memory of {@code server}, when given).
     */
    private static Map<String, Object> run(String label, SyntheticTraceRig rig, long rate, int seconds,
                                           AtomicLong received, AtomicLong dropped, ServerProcess server)
            throws InterruptedException {
        RateProducer producer = new RateProducer(rig, 300, rate);
        List<Double> perSecond = new ArrayList<>();
        List<Double> rssMib = new ArrayList<>();
        long last = received.get();
        for (int s = 0; s < seconds; s++) {
            Thread.sleep(1000);
            long now = received.get();
            perSecond.add((double) (now - last));
            last = now;
            if (server != null) {
                rssMib.add(server.rssMib());
            }
        }
        producer.close();
        Thread.sleep(2000); // what is still on its way
        List<Double> steady = perSecond.subList(Math.min(3, perSecond.size()), perSecond.size());
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("written", producer.written());
        r.put("ringFull", producer.ringFull());
        r.put("received", received.get());
        r.put("reportedDropped", dropped.get());
        r.put("eventsPerSecond", Stats.summary(steady));
        if (server != null) {
            r.put("serverRssMib", Stats.summary(rssMib));
            r.put("serverRssMibFirst", rssMib.isEmpty() ? 0 : rssMib.getFirst());
            r.put("serverRssMibLast", rssMib.isEmpty() ? 0 : rssMib.getLast());
        }
        System.out.println(Stats.line(label + ": events/s (after 3 s)", Stats.summary(steady)));
        System.out.printf("%s: written %d, ring full %d, received %d, reported dropped %d%s%n", label, producer.written(),
                producer.ringFull(), received.get(), dropped.get(), server == null ? ""
                        : ", server RSS " + rssMib.getFirst() + " -> " + rssMib.getLast() + " MiB");
        return r;
    }
}
