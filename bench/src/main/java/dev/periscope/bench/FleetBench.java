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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
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

    private static TlsFiles tls(Path pki, String who) {
        return new TlsFiles(pki.resolve("ca.pem"), pki.resolve(who + ".pem"), pki.resolve(who + ".key"));
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
                     tls(pki, "agent-bench"))) {
            ManagedChannel local = InProcessChannelBuilder.forName("fleet-bench").build();
            ManagedChannel loopback = Grpc.newChannelBuilder("127.0.0.1:" + overTls.port(),
                    tls(pki, "control-plane").client()).overrideAuthority(TlsFiles.AGENT_NAME).build();
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
        Path var = Files.createTempDirectory("periscope-fleet-bench");
        try (FakeAgent agent = FakeAgent.overTls("bench-host", new InetSocketAddress("127.0.0.1", 0),
                tls(pki, "agent-bench-host"))) {
            agent.vms(FakeAgent.vm("vm-1", "bench", true, 512));
            SyntheticTraceRig rig = agent.rig("vm-1");
            int port = Integer.parseInt(System.getProperty("periscope.bench.port", "18095"));
            Process server = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx512m", "-jar", serverJar.toString(), "--server.port=" + port,
                    "--periscope.var-dir=" + var, "--periscope.demo-data=false",
                    "--periscope.fleet.embedded-agent.enabled=false", "--periscope.xen-lab.enabled=false",
                    "--periscope.fleet.agents=127.0.0.1:" + agent.port(),
                    "--periscope.fleet.tls.ca=" + pki.resolve("ca.pem"),
                    "--periscope.fleet.tls.certificate=" + pki.resolve("control-plane.pem"),
                    "--periscope.fleet.tls.private-key=" + pki.resolve("control-plane.key"),
                    "--periscope.sessions.default-max-events=100000000", "--periscope.sessions.stream-buffer=4096")
                    .redirectErrorStream(true).redirectOutput(var.resolve("server.log").toFile()).start();
            try {
                String base = "http://127.0.0.1:" + port;
                HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                String token = awaitServer(http, base, var, server);
                String session = openTrace(http, base, token);
                AtomicLong received = new AtomicLong();
                AtomicLong dropped = new AtomicLong();
                Map<String, Long> droppedWhere = new ConcurrentHashMap<>();
                AtomicBoolean reading = new AtomicBoolean(true);
                HttpResponse<InputStream> events = http.send(HttpRequest.newBuilder(URI.create(base
                                + "/api/v1/sessions/" + session + "/events")).header("Authorization", "Bearer " + token)
                        .header("Accept", "text/event-stream").GET().build(), HttpResponse.BodyHandlers.ofInputStream());
                Thread reader = Thread.ofPlatform().name("sse-reader").start(() -> readSse(events.body(), received,
                        dropped, droppedWhere, reading));
                Map<String, Object> r = run("agent -> control plane -> SSE", rig, rate, seconds, received, dropped,
                        server.pid());
                reading.set(false);
                reader.interrupt();
                r.put("reportedDroppedWhere", new TreeMap<>(droppedWhere));
                System.out.println("agent -> control plane -> SSE: dropped where " + new TreeMap<>(droppedWhere));
                return r;
            } finally {
                server.destroy();
                server.waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    private static String awaitServer(HttpClient http, String base, Path var, Process server) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            if (!server.isAlive()) {
                throw new IllegalStateException("the server exited: " + Files.readString(var.resolve("server.log")));
            }
            Path token = var.resolve("operator.token");
            if (Files.isRegularFile(token)) {
                String t = Files.readString(token).strip();
                try {
                    HttpResponse<String> vms = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/vms"))
                            .header("Authorization", "Bearer " + t).GET().build(), HttpResponse.BodyHandlers.ofString());
                    if (vms.statusCode() == 200 && vms.body().contains("\"vm-1@bench-host\"")) {
                        return t;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("the server did not list the fake agent's VM within 120 s");
    }

    private static String openTrace(HttpClient http, String base, String token) throws Exception {
        HttpResponse<String> opened = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/sessions"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"vm\":\"vm-1@bench-host\",\"kind\":\"TRACE\","
                        + "\"targetPid\":300,\"method\":\"M5\",\"maxDurationSeconds\":3600}")).build(),
                HttpResponse.BodyHandlers.ofString());
        if (opened.statusCode() != 201) {
            throw new IllegalStateException("opening the trace: " + opened.statusCode() + " " + opened.body());
        }
        String body = opened.body();
        int i = body.indexOf("\"id\":\"") + 6;
        return body.substring(i, body.indexOf('"', i));
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
                        int c = line.indexOf("\"count\":");
                        long count = Long.parseLong(line.substring(c + 8, line.indexOf(',', c)));
                        dropped.addAndGet(count);
                        int w = line.indexOf("\"where\":\"");
                        String where = w < 0 ? "?" : line.substring(w + 9, line.indexOf('"', w + 9));
                        droppedWhere.merge(where, count, Long::sum);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // the stream ended with the benchmark
        }
    }

    /** How long the producer sleeps between bursts: at 100,000 events/s, bursts of about 5. */
    private static final long PRODUCER_PAUSE_NS = 50_000;

    /**
     * Feeds the rig's ring with syscalls of pid 300 at {@code rate} per second for {@code seconds}, sampling what the
     * consumer received every second (and the resident memory of {@code pid}, when given).
     */
    private static Map<String, Object> run(String label, SyntheticTraceRig rig, long rate, int seconds,
                                           AtomicLong received, AtomicLong dropped, Long pid) throws InterruptedException {
        long dtb = rig.dtb(300);
        long[] args = {1, 0, 0, 0, 0, 0};
        AtomicLong written = new AtomicLong();
        AtomicLong ringFull = new AtomicLong();
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = Thread.ofPlatform().name("ring-producer").start(() -> {
            long start = System.nanoTime();
            while (producing.get()) {
                long due = (System.nanoTime() - start) * rate / 1_000_000_000L;
                while (written.get() + ringFull.get() < due) {
                    if (rig.producer().syscall(dtb, 0, args, false) > 0) {
                        written.incrementAndGet();
                    } else {
                        ringFull.incrementAndGet();
                    }
                }
                LockSupport.parkNanos(PRODUCER_PAUSE_NS); // a guest's vCPUs do not spin a host core either
            }
        });
        List<Double> perSecond = new ArrayList<>();
        List<Double> rssMib = new ArrayList<>();
        long last = received.get();
        for (int s = 0; s < seconds; s++) {
            Thread.sleep(1000);
            long now = received.get();
            perSecond.add((double) (now - last));
            last = now;
            if (pid != null) {
                rssMib.add(rssMib(pid));
            }
        }
        producing.set(false);
        producer.join();
        Thread.sleep(2000); // what is still on its way
        List<Double> steady = perSecond.subList(Math.min(3, perSecond.size()), perSecond.size());
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("written", written.get());
        r.put("ringFull", ringFull.get());
        r.put("received", received.get());
        r.put("reportedDropped", dropped.get());
        r.put("eventsPerSecond", Stats.summary(steady));
        if (pid != null) {
            r.put("serverRssMib", Stats.summary(rssMib));
            r.put("serverRssMibFirst", rssMib.isEmpty() ? 0 : rssMib.getFirst());
            r.put("serverRssMibLast", rssMib.isEmpty() ? 0 : rssMib.getLast());
        }
        System.out.println(Stats.line(label + ": events/s (after 3 s)", Stats.summary(steady)));
        System.out.printf("%s: written %d, ring full %d, received %d, reported dropped %d%s%n", label, written.get(),
                ringFull.get(), received.get(), dropped.get(), pid == null ? ""
                        : ", server RSS " + rssMib.getFirst() + " -> " + rssMib.getLast() + " MiB");
        return r;
    }

    private static double rssMib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            // the server is gone
        }
        return -1;
    }
}
