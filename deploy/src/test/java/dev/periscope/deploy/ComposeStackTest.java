package dev.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.TlsFiles;
import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.Capability;
import dev.periscope.agent.api.CloseSessionRequest;
import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.agent.api.TraceMethod;
import dev.periscope.agent.api.TraceSpec;
import dev.periscope.agent.api.WatchDomainsRequest;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.junit.jupiter.Testcontainers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The fleet as docker-compose.yml runs it, from the images the build just made: PostgreSQL, two control-plane replicas
 * behind HAProxy, and two lab hosts whose agents serve the lab VMs they booted (tenants acme and globex). Everything
 * is reached from outside only, through the ports the stack publishes on 127.0.0.1, as an operator would; the guests'
 * own views come from inside their lab host (docker exec, the lab's exec command).
 *
 * <p>Boots two guests: skipped with -Dperiscope.lab.skip=true or without a Docker engine.
 */
@Testcontainers(disabledWithoutDocker = true)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ComposeStackTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Duration STARTUP = Duration.ofMinutes(6);
    private static final Map<String, String> TENANT = Map.of("lab-acme", "acme", "lab-globex", "globex");
    private static final Map<String, String> VM = Map.of("lab-acme", "acme-1", "lab-globex", "globex-1");
    /** Long-lived processes of the busy workload, present in every reading of the guest. */
    private static final Set<String> BUSY = Set.of("busy-writer", "busy-proc", "busy-pipe", "idle-sleeper");

    @TempDir
    static Path tmp;
    private static ComposeStack stack;
    private static String token;
    private static int port;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final List<ManagedChannel> CHANNELS = new ArrayList<>();

    @BeforeAll
    static void up() throws Exception {
        Assumptions.assumeFalse(Boolean.getBoolean("periscope.lab.skip"), "boots lab guests: -Dperiscope.lab.skip");
        Assumptions.assumeTrue(ComposeStack.installedCompose() != null,
                "neither docker compose (v2) nor docker-compose (v1) is installed (./periscope test installs v1)");
        ComposeStack.buildImages(Repository.root().resolve("var/build/images/compose-test.log"));
        token = HexFormat.of().formatHex(new SecureRandom().generateSeed(24));
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        long started = System.nanoTime();
        stack = ComposeStack.up(Map.of(
                "PERISCOPE_PORT", Integer.toString(port),
                "PERISCOPE_OPERATOR_TOKEN", token,
                "PERISCOPE_ACME_VMS", "acme-1:busy",
                "PERISCOPE_GLOBEX_VMS", "globex-1:busy"), STARTUP);
        System.out.printf("compose stack (%s) healthy in %d s%n", stack.composeVersion(),
                Duration.ofNanos(System.nanoTime() - started).toSeconds());
    }

    @AfterAll
    static void down() {
        CHANNELS.forEach(ManagedChannel::shutdownNow);
        if (stack != null) {
            stack.close();
        }
    }

    // ----------------------------------------------------------------------------------------- holds today

    @Test
    @Order(1)
    void everyServiceIsHealthyAndTheDashboardAnswersThroughTheOnePort() throws Exception {
        for (String service : ComposeStack.HEALTHY) {
            assertThat(stack.health(service)).as(service).isEqualTo("healthy");
        }
        HttpResponse<String> home = get("/", false);
        assertThat(home.statusCode()).isEqualTo(302);
        assertThat(home.headers().firstValue("Location")).hasValueSatisfying(l -> assertThat(l).endsWith("/login"));
        HttpResponse<String> login = get("/login", false);
        assertThat(login.statusCode()).isEqualTo(200);
        assertThat(login.body()).contains("name=\"_csrf\"", "password");
        // the operator token given to the stack's environment, the demo tenants from PostgreSQL
        JsonNode tenants = api("/api/v1/tenants");
        assertThat(tenants.findValuesAsString("id")).contains("acme", "globex");
        assertThat(get("/api/v1/tenants", false).statusCode()).as("no token, no API").isEqualTo(401);
    }

    @Test
    @Order(2)
    void bothReplicasAreReadyAndServeBehindTheProxy() throws Exception {
        for (String replica : List.of("control-plane-1", "control-plane-2")) {
            int management = stack.port(replica, 9090);
            assertThat(status("http://127.0.0.1:" + management + "/actuator/health/readiness")).as(replica).isEqualTo(200);
            assertThat(status("http://127.0.0.1:" + management + "/actuator/health/liveness")).as(replica).isEqualTo(200);
        }
        // HAProxy names the replica that answered in its stickiness cookie: round robin reaches both once its own
        // health checks have taken the second replica in (two checks 2 s apart after it is ready: bounded wait)
        Set<String> replicas = new HashSet<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (replicas.size() < 2 && System.nanoTime() < deadline) {
            get("/api/v1/tenants", true).headers().allValues("Set-Cookie").stream()
                    .filter(c -> c.startsWith("PERISCOPE_REPLICA=")).map(c -> c.substring(18, c.indexOf(';')))
                    .forEach(replicas::add);
            Thread.sleep(250);
        }
        assertThat(replicas).containsExactlyInAnyOrder("r1", "r2");
        assertThat(get("/actuator/prometheus", true).statusCode()).as("the actuator is not on the published port")
                .isEqualTo(404);
    }

    @Test
    @Order(3)
    void eachLabHostsAgentAnswersOverMutualTlsAndRefusesAStranger() throws Exception {
        for (String host : VM.keySet()) {
            AgentGrpc.AgentBlockingStub agent = agent(host, controlPlaneTls());
            HostInfo info = agent.getInfo(GetInfoRequest.getDefaultInstance());
            assertThat(info.getHost()).isEqualTo(host);
            assertThat(info.getAgentVersion()).isEqualTo(Repository.version());
            assertThat(info.getPlatformsList()).extracting(p -> p.getName()).containsExactly("qemu-lab");
            List<Domain> domains = agent.watchDomains(WatchDomainsRequest.getDefaultInstance()).next().getDomainsList();
            assertThat(domains).singleElement().satisfies(d -> {
                assertThat(d.getName()).isEqualTo(VM.get(host));
                assertThat(d.getTenant()).isEqualTo(TENANT.get(host));
                assertThat(d.getRunning()).isTrue();
                assertThat(d.getCapabilitiesList()).contains(Capability.COW_SNAPSHOT, Capability.CR3_EVENTS);
            });
        }
        Path rogue = tmp.resolve("rogue");
        certs(rogue, "lab-acme");
        TlsFiles stranger = new TlsFiles(rogue.resolve("ca.pem"), rogue.resolve("control-plane.pem"),
                rogue.resolve("control-plane.key"));
        assertThatThrownBy(() -> agent("lab-acme", stranger).getInfo(GetInfoRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    }

    @Test
    @Order(4)
    void eachGuestsProcessListFromItsAgentEqualsTheGuestsOwnView() throws Exception {
        for (String host : VM.keySet()) {
            AgentGrpc.AgentBlockingStub agent = agent(host, controlPlaneTls());
            // snapshot needs userfaultfd in the container: the lab host's privileges are enough, and no more
            for (AcquisitionMode mode : List.of(AcquisitionMode.SNAPSHOT, AcquisitionMode.PAUSE)) {
                Map<Integer, String> before = guestProcesses(host);
                ProcessList list = agent.listProcesses(ListProcessesRequest.newBuilder().setVm(VM.get(host))
                        .setMode(mode).build());
                Map<Integer, String> after = guestProcesses(host);
                assertThat(list.getConsistent()).as("%s %s", host, mode).isTrue();
                Map<Integer, String> engine = list.getProcessesList().stream()
                        .collect(Collectors.toMap(p -> p.getPid(), p -> p.getName(), (a, b) -> a));
                assertSameProcesses(host + " " + mode, engine, before, after);
            }
        }
    }

    @Test
    @Order(5)
    void aTraceOnEachLabHostStreamsFromItsAgent() throws Exception {
        for (String host : VM.keySet()) {
            AgentGrpc.AgentBlockingStub agent = agent(host, controlPlaneTls());
            String id = "compose-test-" + host;
            agent.openSession(OpenSessionRequest.newBuilder().setId(id).setVm(VM.get(host))
                    .setTrace(TraceSpec.newBuilder().setProcessName("busy-writer").setMethod(TraceMethod.M4)).build());
            try {
                Iterator<SessionMessages> stream = agent.streamSessionBatches(
                        StreamSessionRequest.newBuilder().setId(id).build());
                SessionMessage first = null;
                while (first == null && stream.hasNext()) {
                    for (SessionMessage m : stream.next().getMessagesList()) {
                        assertThat(m.hasEnded()).as("%s: the trace ended before a syscall: %s", host, m).isFalse();
                        if (m.hasSyscall()) {
                            first = m;
                            break;
                        }
                    }
                }
                assertThat(first).as(host).isNotNull();
                assertThat(first.getSyscall().getProcess()).isEqualTo("busy-writer");
                assertThat(first.getSyscall().getName()).isNotBlank();
            } finally {
                agent.closeSession(CloseSessionRequest.newBuilder().setId(id).build());
            }
        }
    }

    @Test
    @Order(6)
    void controlPlaneAndAgentsExposePrometheusMetrics() throws Exception {
        for (String replica : List.of("control-plane-1", "control-plane-2")) {
            String metrics = body("http://127.0.0.1:" + stack.port(replica, 9090) + "/actuator/prometheus");
            assertThat(metrics).contains("http_server_requests_seconds_bucket{", "application=\"periscope\"",
                    "jvm_memory_used_bytes");
        }
        for (String host : VM.keySet()) {
            String metrics = body("http://127.0.0.1:" + stack.port(host, 9090) + "/actuator/prometheus");
            assertThat(metrics).containsPattern("(?m)^periscope_agent_vms(\\{[^}]*})? 1\\.0$")
                    .contains("periscope_agent_sessions");
        }
    }

    @Test
    @Order(7)
    void readinessFailsWhileTheDatabaseIsDownAndComesBack() throws Exception {
        List<String> probes = List.of("control-plane-1", "control-plane-2").stream()
                .map(r -> "http://127.0.0.1:" + stack.port(r, 9090) + "/actuator/health/").toList();
        stack.stop("postgres");
        try {
            eventually(Duration.ofSeconds(30), () -> probes.stream().allMatch(p -> status(p + "readiness") == 503));
            for (String p : probes) {
                assertThat(status(p + "liveness")).as("a database outage never restarts a replica").isEqualTo(200);
            }
        } finally {
            stack.start("postgres");
        }
        eventually(Duration.ofSeconds(120), () -> probes.stream().allMatch(p -> status(p + "readiness") == 200));
        // the proxy takes replicas back after two passing checks, 2 s apart
        eventually(Duration.ofSeconds(30), () -> status("http://127.0.0.1:" + port + "/login") == 200);
        assertThat(api("/api/v1/tenants").findValuesAsString("id")).contains("acme", "globex");
    }

    // ------------------------------------------------------------------------------------------------ the fleet

    @Test
    @Order(10)
    void fleetTheControlPlaneListsBothHostsAndTheirVms() throws Exception {
        JsonNode hosts = api("/api/v1/hosts");
        for (String host : VM.keySet()) {
            JsonNode h = find(hosts, "host", host);
            assertThat(h.path("state").asString()).as(host + " connected").isEqualTo("CONNECTED");
            assertThat(h.path("agentVersion").asString()).isEqualTo(Repository.version());
        }
        JsonNode vms = api("/api/v1/vms");
        for (String host : VM.keySet()) {
            JsonNode vm = find(vms, "id", VM.get(host) + "@" + host);
            assertThat(vm.path("tenant").asString()).isEqualTo(TENANT.get(host));
            assertThat(vm.path("running").asBoolean()).isTrue();
        }
        assertThat(vms.findValuesAsString("host")).as("no engine inside the control plane").allMatch(h -> h.startsWith("lab-"));
    }

    @Test
    @Order(11)
    void fleetAProcessListThroughTheControlPlaneEqualsTheGuestsOwnView() throws Exception {
        for (String host : VM.keySet()) {
            Map<Integer, String> before = guestProcesses(host);
            JsonNode list = api("/api/v1/vms/" + VM.get(host) + "@" + host + "/processes?mode=snapshot");
            Map<Integer, String> after = guestProcesses(host);
            assertThat(list.path("consistent").asBoolean()).isTrue();
            Map<Integer, String> engine = new HashMap<>();
            list.path("processes").forEach(p -> engine.put(p.path("pid").asInt(), p.path("name").asString()));
            assertSameProcesses(host + " over REST", engine, before, after);
        }
    }

    @Test
    @Order(12)
    void fleetATraceOfEachHostStreamsThroughTheControlPlane() throws Exception {
        for (String host : VM.keySet()) {
            // busy-writer is a shell: its children (dd, cat, cp) write; the shell itself forks and waits each second
            JsonNode session = post("/api/v1/sessions", Map.of("vm", VM.get(host) + "@" + host, "kind", "TRACE",
                    "targetProcess", "busy-writer", "method", "M4", "syscalls", List.of("wait4"),
                    "maxDurationSeconds", 60));
            String id = session.path("id").asString();
            try {
                JsonNode syscall;
                try {
                    syscall = firstEvent(id, "syscall", Duration.ofSeconds(60));
                } catch (IOException | AssertionError e) {
                    throw new AssertionError("no syscall from session " + id + " on " + host + ": " + e
                            + "; the session: " + apiUnchecked("/api/v1/sessions/" + id), e);
                }
                assertThat(syscall.path("data").path("name").asString()).isEqualTo("busy-writer");
                assertThat(syscall.path("data").path("syscall").asString()).isEqualTo("wait4");
            } finally {
                post("/api/v1/sessions/" + id + "/stop", null);
            }
        }
    }

    /** Last: the lab host of globex goes away; its VM is unreachable within 10 s, acme's keeps working. */
    @Test
    @Order(20)
    void fleetAStoppedLabHostsVmsBecomeUnreachableWhileTheOtherHostsKeepWorking() throws Exception {
        String lost = "globex-1@lab-globex";
        stack.stop("lab-globex");
        long stopped = System.nanoTime();
        eventually(Duration.ofSeconds(15), () -> "unreachable".equalsIgnoreCase(
                apiUnchecked("/api/v1/vms/" + lost).path("state").asString()));
        assertThat(Duration.ofNanos(System.nanoTime() - stopped)).as("marked unreachable within 10 s")
                .isLessThanOrEqualTo(Duration.ofSeconds(10));
        JsonNode hosts = api("/api/v1/hosts");
        assertThat(find(hosts, "host", "lab-globex").path("state").asString()).isEqualTo("UNREACHABLE");
        assertThat(find(hosts, "host", "lab-acme").path("state").asString()).isEqualTo("CONNECTED");
        Map<Integer, String> before = guestProcesses("lab-acme");
        JsonNode list = api("/api/v1/vms/acme-1@lab-acme/processes?mode=snapshot");
        Map<Integer, String> engine = new HashMap<>();
        list.path("processes").forEach(p -> engine.put(p.path("pid").asInt(), p.path("name").asString()));
        assertSameProcesses("lab-acme after lab-globex stopped", engine, before, guestProcesses("lab-acme"));
        assertThat(status("http://127.0.0.1:" + stack.port("control-plane-1", 9090) + "/actuator/health/readiness"))
                .as("one agent still answers: ready").isEqualTo(200);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** A kernel worker's name without its current workqueue: "kworker/0:1" of "kworker/0:1-events". */
    private static String workerId(String name) {
        int dash = name.indexOf('-');
        return dash < 0 ? name : name.substring(0, dash);
    }

    /**
     * The engine's list (pid to name) against two readings of the guest's /proc around it: every process present in
     * both readings is in the engine's list with the same name; the busy workload's processes are among them.
     */
    private static void assertSameProcesses(String what, Map<Integer, String> engine, Map<Integer, String> before,
                                            Map<Integer, String> after) {
        Map<Integer, String> stable = new HashMap<>(before);
        stable.keySet().retainAll(after.keySet());
        assertThat(stable.values()).as("%s: the guest runs the busy workload", what).containsAll(BUSY);
        for (var p : stable.entrySet()) {
            assertThat(engine).as("%s: pid %d (%s)", what, p.getKey(), p.getValue()).containsKey(p.getKey());
            String name = engine.get(p.getKey());
            // Names as /proc shows them, exactly; only a kernel worker's current workqueue ("kworker/0:1-events")
            // may change between the readings, its worker id not.
            String guest = p.getValue();
            assertThat(guest.equals(name) || guest.startsWith("kworker/") && name.startsWith("kworker/")
                    && workerId(guest).equals(workerId(name)))
                    .as("%s: pid %d is %s in the guest, %s in the engine", what, p.getKey(), guest, name).isTrue();
        }
        Set<Integer> union = new HashSet<>(before.keySet());
        union.addAll(after.keySet());
        Set<Integer> unknown = new HashSet<>(engine.keySet());
        unknown.removeAll(union);
        // only processes that lived between the two readings (the workload's short-lived helpers) may be extra
        assertThat(unknown).as("%s: pids the guest never showed", what).hasSizeLessThanOrEqualTo(3);
    }

    /** The guest's own process table (pid to comm, kernel threads included), from /proc inside it. */
    private static Map<Integer, String> guestProcesses(String host) throws Exception {
        var result = stack.service(host).execInContainer("bash", "/opt/periscope/lab/lab.sh", "exec", VM.get(host), "--",
                "sh", "-c", "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(cat $p/comm 2>/dev/null)\"; done");
        assertThat(result.getExitCode()).as(result.getStderr()).isZero();
        Map<Integer, String> processes = new HashMap<>();
        for (String line : result.getStdout().split("\n")) {
            int space = line.indexOf(' ');
            if (space > 0 && space < line.length() - 1) {
                processes.put(Integer.parseInt(line.substring(0, space)), line.substring(space + 1).strip());
            }
        }
        assertThat(processes).as("the guest's /proc").containsEntry(1, "init");
        return processes;
    }

    /** The control plane's client certificate, as the stack's secrets service made it. */
    private static TlsFiles controlPlaneTls() throws Exception {
        Path dir = tmp.resolve("control-plane-tls");
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            for (String f : List.of("ca.pem", "control-plane.pem", "control-plane.key")) {
                stack.copy("control-plane-1", "/run/periscope/tls/" + f, dir);
            }
        }
        return new TlsFiles(dir.resolve("ca.pem"), dir.resolve("control-plane.pem"), dir.resolve("control-plane.key"));
    }

    private static AgentGrpc.AgentBlockingStub agent(String host, TlsFiles tls) {
        ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + stack.port(host, 7443), tls.client())
                .overrideAuthority(TlsFiles.AGENT_NAME).build();
        CHANNELS.add(channel);
        return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    private static void certs(Path dir, String agent) throws Exception {
        Process p = new ProcessBuilder("bash", Repository.root().resolve("agent/certs.sh").toString(),
                dir.toString(), "--agent", agent).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
    }

    private static HttpResponse<String> get(String path, boolean withToken) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(30));
        if (withToken) {
            request.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(request.GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode api(String path) throws Exception {
        HttpResponse<String> response = get(path, true);
        assertThat(response.statusCode()).as("GET %s: %s", path, response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private static JsonNode apiUnchecked(String path) {
        try {
            HttpResponse<String> response = get(path, true);
            return JSON.readTree(response.body());
        } catch (Exception e) {
            return JSON.missingNode();
        }
    }

    private static JsonNode post(String path, Object body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + token)
                .header("Content-Type", "application/json").header("Accept", "application/json")
                .POST(body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build();
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as("POST %s: %s", path, response.body()).isBetween(200, 201);
        return JSON.readTree(response.body());
    }

    /** The first event of a type in a session's NDJSON stream, read through the proxy. */
    private static JsonNode firstEvent(String session, String type, Duration within) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/sessions/"
                        + session + "/events")).timeout(within).header("Authorization", "Bearer " + token)
                .header("Accept", "application/x-ndjson").GET().build();
        HttpResponse<InputStream> response = HTTP.send(request, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                if (!line.isBlank()) {
                    JsonNode event = JSON.readTree(line);
                    if (type.equals(event.path("type").asString())) {
                        return event;
                    }
                }
            }
        }
        throw new AssertionError("the stream of session " + session + " ended without a " + type + " event");
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asString())) {
                return n;
            }
        }
        throw new AssertionError("no element with " + field + " = " + value + " in " + array);
    }

    private static int status(String url) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static String body(String url) throws Exception {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(url).isEqualTo(200);
        return response.body();
    }

    private static void eventually(Duration within, Supplier<Boolean> condition) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.get()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + within);
            }
            Thread.sleep(500);
        }
    }
}
