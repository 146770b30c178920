package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.cli.Client;
import dev.periscope.syscall.SyscallArchive;
import dev.periscope.system.HangDiagnostics;
import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingToken;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseCookie;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.util.LinkedMultiValueMap;
import org.springframework.web.reactive.function.BodyInserters;
import reactor.core.publisher.Flux;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The whole path against a real lab guest: REST, the command-line client and the browser login, with the
 * process list read from guest memory and checked against the guest's own view. Run {@link #main} to start
 * the server from an IDE with the lab's var directory.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient(timeout = "PT60S")
class PeriscopeLabTest {

    private static final String VM = "wt-path-1";
    private static final ParameterizedTypeReference<Map<String, Object>> MAP = new ParameterizedTypeReference<>() {
    };
    private static LabVm guest;

    @Autowired
    WebTestClient web;

    @Autowired
    SyscallArchive syscallArchive;

    @LocalServerPort
    int port;

    public static void main(String[] args) {
        SpringApplication.run(PeriscopeApplication.class, "--periscope.var-dir=" + LabVm.varDir());
    }

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        LabServerDirs.register(registry);
    }

    @BeforeAll
    static void startGuest() {
        LabVm.assumeLabEnabled();
        guest = LabVm.start(VM, "--tenant", "pathco", "--workload", "busy");
    }

    @AfterAll
    static void stopGuest() {
        if (guest != null) {
            guest.close();
        }
    }

    @Test
    void vmIsListedWithItsTenantAndCapabilities() throws IOException {
        web.get().uri("/api/v1/vms/" + VM).header("Authorization", "Bearer " + token()).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.id").isEqualTo(VM + "@local")
                .jsonPath("$.host").isEqualTo("local")
                .jsonPath("$.tenant").isEqualTo("pathco")
                .jsonPath("$.running").isEqualTo(true)
                .jsonPath("$.platform").isEqualTo("qemu-lab")
                .jsonPath("$.capabilities").value(List.class, capabilities ->
                        assertThat((List<Object>) capabilities).contains("READ_MEMORY", "COW_SNAPSHOT"));
    }

    @Test
    void processListOverRestMatchesTheGuestsOwnPids() throws IOException {
        // Forked helpers of the workload come and go; the long-lived ones are in two readings around the reads.
        Set<Integer> guestPids = guestPidsOf("busy-writer", "busy-proc");
        assertThat(guestPids).as("the busy workload runs busy-writer and busy-proc").hasSizeGreaterThanOrEqualTo(2);

        for (String mode : List.of("snapshot", "pause", "live")) {
            Map<String, Object> list = web.get().uri("/api/v1/vms/" + VM + "/processes?mode=" + mode)
                    .header("Authorization", "Bearer " + token()).exchange()
                    .expectStatus().isOk()
                    .expectBody(MAP).returnResult().getResponseBody();
            assertThat(list).containsEntry("mode", mode).containsEntry("consistent", !mode.equals("live"));
            List<Map<String, Object>> processes = processes(list);
            Set<Integer> enginePids = processes.stream()
                    .filter(p -> Set.of("busy-writer", "busy-proc").contains(p.get("name")))
                    .map(p -> (Integer) p.get("pid"))
                    .collect(Collectors.toSet());
            assertThat(enginePids).as("busy-writer/busy-proc pids by %s", mode).containsAll(guestPids);
            assertThat(processes).filteredOn(p -> p.get("name").equals("busy-writer"))
                    .allSatisfy(p -> {
                        assertThat((String) p.get("cmdline")).contains("/periscope/bin/busy-writer");
                        assertThat(((Number) p.get("cr3")).longValue()).isPositive();
                        assertThat(p.get("kernelThread")).isEqualTo(false);
                    });
        }
    }

    @Test
    void commandLineClientPrintsTheProcessTable() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        var client = new Client(Map.of("PERISCOPE_URL", "http://localhost:" + port,
                "PERISCOPE_TOKEN", token()), new PrintStream(out), new PrintStream(err));

        assertThat(client.execute(List.of("ps", VM, "--mode", "live"))).as(err.toString()).isZero();
        assertThat(out.toString()).contains("mode live (racy)").containsPattern("(?m)^\\s+1\\s+0\\s+0 S\\s+init");

        out.reset();
        assertThat(client.execute(List.of("ps", VM, "--json"))).as(err.toString()).isZero();
        assertThat(out.toString()).contains("\"name\" : \"busy-writer\"", "\"kernelThread\" : false", "\"cr3\"");

        assertThat(client.execute(List.of("ps", "no-such-vm"))).isEqualTo(1);
        assertThat(err.toString()).contains("404").contains("no VM named 'no-such-vm'");
    }

    @Test
    void browserLogsInWithTheFormAndSeesTheVmPage() throws IOException {
        var login = web.get().uri("/login").exchange().expectStatus().isOk().expectBody(String.class).returnResult();
        Matcher csrf = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"").matcher(login.getResponseBody());
        assertThat(csrf.find()).as("login form carries a CSRF token").isTrue();
        ResponseCookie session = login.getResponseCookies().getFirst("SESSION");
        assertThat(session).isNotNull();

        var form = new LinkedMultiValueMap<String, String>();
        form.add("username", "operator");
        form.add("password", LabServerDirs.operatorPassword());
        form.add("_csrf", csrf.group(1));
        var loggedIn = web.post().uri("/login").cookie("SESSION", session.getValue())
                .contentType(MediaType.APPLICATION_FORM_URLENCODED).body(BodyInserters.fromFormData(form))
                .exchange().expectStatus().is3xxRedirection().expectHeader().location("/")
                .expectBody().returnResult();
        ResponseCookie authenticated = loggedIn.getResponseCookies().getFirst("SESSION");
        String cookie = authenticated != null ? authenticated.getValue() : session.getValue();

        web.get().uri("/").cookie("SESSION", cookie).exchange()
                .expectStatus().isOk().expectBody(String.class).value(page -> assertThat(page).contains(VM, "pathco"));
        web.get().uri("/vms/" + VM + "?mode=live").cookie("SESSION", cookie).exchange()
                .expectStatus().isOk().expectBody(String.class)
                .value(page -> assertThat(page).contains("busy-writer", "/periscope/bin/busy-writer"));
    }

    @Test
    void formPostWithoutCsrfTokenIsRefused() {
        web.post().uri("/login").contentType(MediaType.APPLICATION_FORM_URLENCODED)
                .body(BodyInserters.fromFormData("username", "operator").with("password", "x"))
                .exchange().expectStatus().isForbidden();
    }

    @Test
    void processListSessionOverRestStreamsTheGuestsProcessesAsSseAndStops() throws IOException {
        Map<String, Object> session = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + token())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", VM, "kind", "PROCESS_LIST", "mode", "snapshot", "intervalSeconds", 1))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        String id = (String) session.get("id");
        assertThat(session).containsEntry("state", "ACTIVE").containsEntry("method", "M1");

        var events = web.get().uri("/api/v1/sessions/" + id + "/events").header("Authorization", "Bearer " + token())
                .accept(MediaType.TEXT_EVENT_STREAM).exchange().expectStatus().isOk()
                .returnResult(new ParameterizedTypeReference<ServerSentEvent<Map<String, Object>>>() {
                }).getResponseBody()
                .filter(e -> "processes".equals(e.event()))
                .next().block(Duration.ofSeconds(60));
        assertThat(events).isNotNull();
        assertThat(events.id()).isNotBlank();
        assertThat(events.data().toString()).contains("busy-writer", "/periscope/bin/busy-writer");

        web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + token()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ENDED");
        web.get().uri("/api/v1/sessions/" + id + "/overhead").header("Authorization", "Bearer " + token()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[?(@.metric == 'guest_downtime_us')]").exists();
    }

    @Test
    void traceSessionStreamsTheTargetsSyscallsCountsOverheadAndLeavesNothingArmed() throws IOException {
        int writer = guestPidsOf("busy-writer").iterator().next();
        Map<String, Object> session = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + token())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", VM, "kind", "TRACE", "targetPid", writer, "method", "M5",
                        "maxDurationSeconds", 60))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        String id = (String) session.get("id");
        assertThat(session).containsEntry("state", "ACTIVE").containsEntry("targetPid", writer);

        // busy-writer (a shell) writes, reads and copies files in /tmp/busy every second.
        List<Map<String, Object>> syscalls = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + token()).accept(MediaType.APPLICATION_NDJSON).exchange()
                .expectStatus().isOk().returnResult(MAP).getResponseBody()
                .filter(e -> "syscall".equals(e.get("type")))
                .map(PeriscopeLabTest::data)
                .take(40).take(Duration.ofSeconds(30))
                .collectList().block(Duration.ofSeconds(40));
        assertThat(syscalls).as("syscall events of busy-writer").hasSizeGreaterThanOrEqualTo(10);
        assertThat(syscalls).allSatisfy(e -> {
            assertThat(e).containsEntry("pid", writer).containsEntry("name", "busy-writer").containsKeys("time", "args");
        });
        assertThat(syscalls).extracting(e -> (String) e.get("syscall")).containsAnyOf("openat", "read", "write");

        web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + token()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ENDED");
        List<Map<String, Object>> cost = web.get().uri("/api/v1/sessions/" + id + "/overhead")
                .header("Authorization", "Bearer " + token()).exchange().expectStatus().isOk()
                .expectBodyList(MAP).returnResult().getResponseBody();
        assertThat(cost).extracting(m -> m.get("metric"))
                .contains("seen", "filtered", "delivered", "dropped", "vcpu_wait_us", "estimated_slowdown");
        assertThat(cost).filteredOn(m -> m.get("metric").equals("delivered"))
                .singleElement().satisfies(m -> assertThat(((Number) m.get("total")).doubleValue()).isPositive());
        web.get().uri("/api/v1/vms/" + VM + "/overhead").header("Authorization", "Bearer " + token()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[?(@.metric == 'seen')]").exists();
        assertThat(syscallArchive.recent(id, 10).collectList().block()).isNotEmpty()
                .allSatisfy(r -> assertThat(r.pid()).isEqualTo(writer));

        // Closing the engine trace switches the hypervisor extension off (the ring thread does it, shortly).
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ringArmed() && System.nanoTime() < deadline) {
            sleep(100);
        }
        assertThat(ringArmed()).as("ring control back to off").isFalse();
    }

    @Test
    void traceByProcessNameFiltersSyscallsAndEndsWithItsTarget() throws IOException {
        // A script's comm is its file name: wt-probe, a shell that opens a file and waits for children each second,
        // for 12 s: starting a trace on a loaded 2-core host has taken 5 s, and the script must outlive that.
        LabVm.Result started0 = guest.exec("sh", "-c", "printf '#!/bin/sh\\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do "
                + "cat /proc/version > /tmp/wt-probe.out; sleep 1; done\\n' > /tmp/wt-probe && chmod +x /tmp/wt-probe "
                + "&& (/tmp/wt-probe >/dev/null 2>&1 &)");
        assertThat(started0.exitCode()).as(started0.output()).isZero();
        sleep(500);
        Map<String, Object> session = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + token())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", VM, "kind", "TRACE", "targetProcess", "wt-probe", "method", "M5",
                        "syscalls", List.of("openat", "wait4"), "maxDurationSeconds", 30))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        String id = (String) session.get("id");
        List<Map<String, Object>> events = eventsUntilEnd(id, Duration.ofSeconds(60));
        List<Map<String, Object>> syscalls = events.stream().filter(e -> "syscall".equals(e.get("type")))
                .map(PeriscopeLabTest::data).toList();
        Map<String, Object> started = events.stream().filter(e -> "trace".equals(e.get("type")))
                .map(PeriscopeLabTest::data).findFirst()
                .orElseThrow(() -> new AssertionError("the trace did not start; its events: " + events));
        assertThat(started).containsEntry("name", "wt-probe");
        assertThat(syscalls).isNotEmpty().allSatisfy(e -> {
            assertThat(e).containsEntry("pid", started.get("pid"));
            assertThat(e.get("syscall")).isIn("openat", "wait4");
        });
        assertThat(syscalls).extracting(e -> (String) e.get("syscall")).contains("openat", "wait4");
        assertThat(syscalls).filteredOn(e -> e.get("syscall").equals("openat"))
                .anySatisfy(e -> assertThat(e.toString()).contains("/tmp/wt-probe.out"));
        // each call carries how it ended: the shell's opens of its output file succeed
        assertThat(syscalls).filteredOn(e -> e.get("syscall").equals("openat") && e.toString().contains("/tmp/wt-probe.out"))
                .allSatisfy(e -> {
                    assertThat(e).containsEntry("status", "RETURNED");
                    assertThat(((Number) e.get("returnValue")).intValue()).isNotNegative();
                    assertThat(((Number) e.get("durationNs")).longValue()).isPositive();
                });
        syscalls.forEach(e -> System.out.println("feed: " + e.get("text")));
        Map<String, Object> last = data(events.getLast());
        assertThat(last).containsEntry("state", "ENDED");
        assertThat((String) last.get("reason")).contains("exited");
    }

    @Test
    void commandLineTracePrintsTheTargetsSyscallsAsNdjson() throws IOException {
        int writer = guestPidsOf("busy-writer").iterator().next();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        var client = new Client(Map.of("PERISCOPE_URL", "http://localhost:" + port,
                "PERISCOPE_TOKEN", token()), new PrintStream(out), new PrintStream(err));

        // A session's lifetime counts from its start, and arming a first trace on a busy 2-core host (profile,
        // process list, plugin flush) can take seconds: leave room for events after that.
        assertThat(traced(client, err, List.of("trace", VM, "--pid", Integer.toString(writer), "--seconds", "15",
                "--json"))).as(err.toString()).isZero();
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines).as(err.toString()).isNotEmpty();
        var json = tools.jackson.databind.json.JsonMapper.builder().build();
        for (String line : lines) {
            var e = json.readTree(line);
            assertThat(e.get("pid").asInt()).isEqualTo(writer);
            assertThat(e.get("name").asString()).isEqualTo("busy-writer");
            assertThat(e.has("time") && e.has("syscall") && e.get("args").isArray()).as(line).isTrue();
        }
        assertThat(err.toString()).contains("# tracing pid " + writer, "# session ended: max duration");

        out.reset();
        assertThat(traced(client, err, List.of("trace", VM, "--pid", Integer.toString(writer), "--seconds", "8",
                "--syscalls", "openat"))).as(err.toString()).isZero();
        // strace-like: the entry's time, the pid, the call with its arguments decoded, its result and duration
        assertThat(out.toString()).containsPattern("(?m)^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} " + writer
                + " openat\\(AT_FDCWD, \"[^\"]+\", O_[A-Z_|]+(, 0\\d+)?\\) = (\\d+|-1 E[A-Z]+ \\(.*\\)) <\\d+\\.\\d{6}>$");
    }

    /**
     * A session's NDJSON events up to its final state. A stream quiet for 10 s is resumed after its last event id, as
     * a client may: streams have been seen to stop short of a session's end that the server had (an open defect),
     * and when one does, what every thread was doing then is printed for it.
     */
    private List<Map<String, Object>> eventsUntilEnd(String id, Duration within) throws IOException {
        List<Map<String, Object>> events = new ArrayList<>();
        long deadline = System.nanoTime() + within.toNanos();
        long after = 0;
        while (System.nanoTime() < deadline) {
            List<Map<String, Object>> part = web.get().uri("/api/v1/sessions/" + id + "/events?after=" + after)
                    .header("Authorization", "Bearer " + token()).accept(MediaType.APPLICATION_NDJSON).exchange()
                    .expectStatus().isOk().returnResult(MAP).getResponseBody()
                    .timeout(Duration.ofSeconds(10), Flux.empty())
                    .collectList().block(within);
            events.addAll(part);
            if (!events.isEmpty() && "state".equals(events.getLast().get("type"))
                    && List.of("ENDED", "LOST").contains(data(events.getLast()).get("state"))) {
                return events;
            }
            for (Map<String, Object> e : part) {
                after = Math.max(after, ((Number) e.get("id")).longValue());
            }
            System.out.println("---- session " + id + ": its stream went quiet before its end; resuming after event "
                    + after + "; the threads:\n" + HangDiagnostics.threadDump());
        }
        return events;
    }

    /** The CLI's exit; when the session's stream stalled, what every thread of the server was doing then. */
    private static int traced(Client client, ByteArrayOutputStream err, List<String> args) {
        int before = err.size();
        int exit = client.execute(args);
        String said = err.toString().substring(before);
        if (said.contains("stream stalled") || said.contains("did not end within")) {
            System.err.println("---- the trace's event stream stalled; the threads:\n" + HangDiagnostics.threadDump());
        }
        return exit;
    }

    /** Prints what each method delivers and costs on the busy guest (never asserts rates). */
    @Test
    void printsTraceRatesPerMethod() throws IOException {
        int writer = guestPidsOf("busy-writer").iterator().next();
        for (String method : List.of("M2", "M3", "M4", "M5")) {
            String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + token())
                    .contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("vm", VM, "kind", "TRACE", "targetPid", writer, "method", method,
                            "maxDurationSeconds", 5))
                    .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
            web.get().uri("/api/v1/sessions/" + id + "/events").header("Authorization", "Bearer " + token())
                    .accept(MediaType.APPLICATION_NDJSON).exchange().returnResult(MAP).getResponseBody()
                    .blockLast(Duration.ofSeconds(30));
            Map<String, Double> total = new TreeMap<>();
            web.get().uri("/api/v1/sessions/" + id + "/overhead").header("Authorization", "Bearer " + token())
                    .exchange().expectBodyList(MAP).returnResult().getResponseBody()
                    .forEach(m -> total.put((String) m.get("metric"), ((Number) (m.get("metric").equals(
                            "estimated_slowdown") ? m.get("max") : m.get("total"))).doubleValue()));
            System.out.printf("TRACE %s on busy-writer, 5 s: delivered %.0f (%.1f/s) seen %.0f filtered %.0f "
                            + "ring_delivered %.0f dropped %.0f vcpu_wait %.1f ms slowdown %.4f%n", method,
                    total.getOrDefault("delivered", 0.0), total.getOrDefault("delivered", 0.0) / 5,
                    total.getOrDefault("seen", 0.0), total.getOrDefault("filtered", 0.0),
                    total.getOrDefault("ring_delivered", 0.0), total.getOrDefault("dropped", 0.0),
                    total.getOrDefault("vcpu_wait_us", 0.0) / 1000, total.getOrDefault("estimated_slowdown", 0.0));
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ringArmed() && System.nanoTime() < deadline) {
            sleep(100);
        }
        assertThat(ringArmed()).isFalse();
    }

    /** Whether the guest's hypervisor extension traps anything now, as its ring's control block says. */
    private static boolean ringArmed() {
        try {
            JsonNode meta = JsonMapper.builder().build().readTree(LabVm.varDir().resolve("lab").resolve(VM)
                    .resolve("meta.json").toFile());
            RingToken token = RingToken.parse(Files.readString(Path.of(meta.get("ringTokenFile").asString())).strip());
            try (EventRing ring = EventRing.open(Path.of(meta.get("ringPath").asString()), token)) {
                return ring.armed();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> data(Map<String, Object> event) {
        return (Map<String, Object>) event.get("data");
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Prints REST latencies (never asserts timings): process list LIVE and SNAPSHOT, session creation. */
    @Test
    void printsRestLatencies() throws IOException {
        String token = token();
        System.out.println("LATENCY process list live: " + measure(100, () -> web.get()
                .uri("/api/v1/vms/" + VM + "/processes?mode=live").header("Authorization", "Bearer " + token)
                .exchange().expectStatus().isOk().expectBody().returnResult()));
        System.out.println("LATENCY process list snapshot: " + measure(50, () -> web.get()
                .uri("/api/v1/vms/" + VM + "/processes?mode=snapshot").header("Authorization", "Bearer " + token)
                .exchange().expectStatus().isOk().expectBody().returnResult()));
        List<String> ids = new ArrayList<>();
        System.out.println("LATENCY session creation: " + measure(100, () -> ids.add((String) web.post()
                .uri("/api/v1/sessions").header("Authorization", "Bearer " + token)
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", VM, "kind", "TRACE", "targetPid", 1, "maxDurationSeconds", 600))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id"))));
        for (String id : ids) {
            web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + token).exchange()
                    .expectStatus().isOk();
        }
    }

    private static String measure(int n, Runnable call) {
        call.run(); // warm
        long[] micros = new long[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            call.run();
            micros[i] = (System.nanoTime() - t0) / 1_000;
        }
        Arrays.sort(micros);
        return String.format("n=%d p50=%.2f ms p95=%.2f ms", n, micros[n / 2] / 1000.0,
                micros[(int) Math.ceil(n * 0.95) - 1] / 1000.0);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> processes(Map<String, Object> list) {
        return (List<Map<String, Object>>) list.get("processes");
    }

    private static Set<Integer> guestPidsOf(String... names) {
        LabVm.Result pidof = guest.exec(pidofCommand(names));
        assertThat(pidof.exitCode()).as(pidof.output()).isZero();
        Set<Integer> pids = parsePids(pidof.output());
        pids.retainAll(parsePids(guest.exec(pidofCommand(names)).output()));
        return pids;
    }

    private static String[] pidofCommand(String... names) {
        String[] command = new String[names.length + 1];
        command[0] = "pidof";
        System.arraycopy(names, 0, command, 1, names.length);
        return command;
    }

    private static Set<Integer> parsePids(String pidofOutput) {
        return Arrays.stream(pidofOutput.trim().split("\\s+")).map(Integer::parseInt)
                .collect(Collectors.toCollection(HashSet::new));
    }

    private static String token() {
        return LabServerDirs.operatorToken();
    }
}
