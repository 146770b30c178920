package dev.periscope.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.periscope.session.SessionEnd;
import dev.periscope.session.SessionEvent;
import dev.periscope.session.SessionState;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/** {@code trace} against a scripted server: the session it opens, how it prints NDJSON events, that it stops. */
class TraceCommandTest {

    /** The stream the server sends: real session events, serialised as the server does. */
    private static final String EVENTS = ndjson(
            new SessionEvent.StateChange(SessionState.ACTIVE, null, "started"),
            new SessionEvent.TraceStarted(42, "sh", TraceMethod.M5, "as M4", List.of("openat"), "guest"),
            SessionEvent.Syscall.of(new TraceEvent.Syscall(0, 0, 42, "sh", 257, "openat", List.of(
                    new TraceEvent.Arg("dfd", -100, "AT_FDCWD"), new TraceEvent.Arg("filename", 140000, "\"/tmp/x\""),
                    new TraceEvent.Arg("flags", 577, "O_WRONLY|O_CREAT|O_TRUNC"), new TraceEvent.Arg("mode", 0600, "0600")),
                    new TraceEvent.Result(TraceEvent.Status.RETURNED, -2, "ENOENT", 21_000,
                            "-1 ENOENT (No such file or directory)")), Instant.parse("2026-01-01T00:00:01.000001Z")),
            new SessionEvent.Dropped(3, SessionEvent.DropSite.HYPERVISOR_RING),
            SessionEvent.Syscall.of(new TraceEvent.Syscall(0, 0, 42, "sh", 61, "wait4", List.of(
                    new TraceEvent.Arg("upid", -1, "-1"), new TraceEvent.Arg("stat_addr", 0, "NULL"),
                    new TraceEvent.Arg("options", 0, "0"), new TraceEvent.Arg("ru", 0, "NULL")),
                    TraceEvent.Result.UNFINISHED), Instant.parse("2026-01-01T00:00:02Z")),
            new SessionEvent.StateChange(SessionState.ENDED, SessionEnd.MAX_DURATION, "max duration of 2 s reached"));

    private static String ndjson(SessionEvent.Payload... payloads) {
        JsonMapper json = JsonMapper.builder().build();
        StringBuilder b = new StringBuilder();
        long id = 1;
        for (SessionEvent.Payload p : payloads) {
            long eventId = p instanceof SessionEvent.Dropped ? -1 : id++;
            b.append(json.writeValueAsString(new SessionEvent(eventId, "s1", p.type(),
                    Instant.parse("2026-01-01T00:00:00Z"), p))).append('\n');
        }
        return b.toString();
    }

    private HttpServer server;
    /** Whether the events stream goes silent after its first event, as a server that lost the session would. */
    private volatile boolean silent;
    /** What GET /api/v1/sessions/s1 answers. */
    private volatile String sessionNow = "{\"id\":\"s1\",\"state\":\"ACTIVE\"}";
    private final CountDownLatch released = new CountDownLatch(1);
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/api/v1/sessions", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            calls.add(exchange.getRequestMethod() + " " + exchange.getRequestURI() + " "
                    + exchange.getRequestHeaders().getFirst("Authorization") + " " + body);
            String path = exchange.getRequestURI().getPath();
            byte[] answer;
            int status = 200;
            if (path.equals("/api/v1/sessions")) {
                answer = "{\"id\":\"s1\",\"state\":\"ACTIVE\"}".getBytes(StandardCharsets.UTF_8);
                status = 201;
            } else if (path.endsWith("/events") && silent) {
                exchange.getResponseHeaders().add("Content-Type", "application/x-ndjson");
                exchange.sendResponseHeaders(200, 0);
                exchange.getResponseBody().write(EVENTS.lines().findFirst().orElseThrow().concat("\n")
                        .getBytes(StandardCharsets.UTF_8));
                exchange.getResponseBody().flush();
                try {
                    released.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                exchange.close();
                return;
            } else if (path.endsWith("/events")) {
                exchange.getResponseHeaders().add("Content-Type", "application/x-ndjson");
                answer = EVENTS.getBytes(StandardCharsets.UTF_8);
            } else if (exchange.getRequestMethod().equals("GET")) {
                answer = sessionNow.getBytes(StandardCharsets.UTF_8);
            } else {
                answer = "{\"id\":\"s1\",\"state\":\"ENDED\"}".getBytes(StandardCharsets.UTF_8);
            }
            exchange.sendResponseHeaders(status, answer.length);
            exchange.getResponseBody().write(answer);
            exchange.close();
        });
        server.setExecutor(Executors.newCachedThreadPool());
        server.start();
    }

    @AfterEach
    void stop() {
        released.countDown();
        server.stop(0);
    }

    private Client client() {
        return new Client(Map.of("PERISCOPE_URL", "http://127.0.0.1:" + server.getAddress().getPort(),
                "PERISCOPE_TOKEN", "tok"), new PrintStream(out, true), new PrintStream(err, true));
    }

    @Test
    void jsonPrintsOneSyscallALineAndStopsTheSession() {
        int exit = client().execute(List.of("trace", "acme-1", "--process", "sh", "--method", "m5",
                "--syscalls", "openat,wait4", "--seconds", "2", "--json"));

        assertThat(exit).as(err.toString()).isZero();
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines).hasSize(2);
        var json = JsonMapper.builder().build();
        var first = json.readTree(lines.getFirst());
        assertThat(first.get("time").asString()).isEqualTo("2026-01-01T00:00:01.000001Z");
        assertThat(first.get("pid").asInt()).isEqualTo(42);
        assertThat(first.get("name").asString()).isEqualTo("sh");
        assertThat(first.get("syscall").asString()).isEqualTo("openat");
        assertThat(first.get("args").get(1).get("text").asString()).isEqualTo("\"/tmp/x\"");
        assertThat(first.get("status").asString()).isEqualTo("RETURNED");
        assertThat(first.get("returnValue").asLong()).isEqualTo(-2);
        assertThat(first.get("errno").asString()).isEqualTo("ENOENT");
        assertThat(first.get("durationNs").asLong()).isEqualTo(21_000);
        assertThat(first.get("result").asString()).isEqualTo("-1 ENOENT (No such file or directory)");
        var second = json.readTree(lines.get(1));
        assertThat(second.get("syscall").asString()).isEqualTo("wait4");
        assertThat(second.get("status").asString()).isEqualTo("UNFINISHED");
        assertThat(second.get("returnValue").isNull()).isTrue();
        assertThat(err.toString()).contains("# tracing pid 42 (sh) with M5", "# dropped 3 events (hypervisor ring)",
                "# session ended: max duration of 2 s reached");

        assertThat(calls).hasSize(3);
        assertThat(calls.get(0)).startsWith("POST /api/v1/sessions Bearer tok ")
                .contains("\"kind\":\"TRACE\"", "\"targetProcess\":\"sh\"", "\"method\":\"M5\"",
                        "\"syscalls\":[\"openat\",\"wait4\"]", "\"maxDurationSeconds\":2", "\"vm\":\"acme-1\"");
        assertThat(calls.get(1)).startsWith("GET /api/v1/sessions/s1/events");
        assertThat(calls.get(2)).startsWith("POST /api/v1/sessions/s1/stop");
    }

    @Test
    void textPrintsStraceLikeLines() {
        assertThat(client().execute(List.of("trace", "acme-1", "--pid", "42"))).as(err.toString()).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8).lines().toList()).satisfiesExactly(
                l -> assertThat(l).matches("\\d\\d:\\d\\d:01\\.000001 42 openat\\(AT_FDCWD, \"/tmp/x\", "
                        + "O_WRONLY\\|O_CREAT\\|O_TRUNC, 0600\\) = -1 ENOENT \\(No such file or directory\\) <0\\.000021>"),
                l -> assertThat(l).matches("\\d\\d:\\d\\d:02\\.000000 42 wait4\\(-1, NULL, 0, NULL\\) <unfinished \\.\\.\\.>"));
        assertThat(calls.getFirst()).contains("\"targetPid\":42").doesNotContain("targetProcess");
    }

    @Test
    void aStreamTheServerDoesNotEndIsCutAfterTheSessionsTimeAndTheSessionStopped() {
        silent = true;
        long start = System.nanoTime();
        int exit = new TraceCommand(client(), Duration.ofSeconds(1)).run(List.of("trace", "acme-1", "--pid", "42"));

        assertThat(exit).isEqualTo(1);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
        assertThat(err.toString()).contains("# session s1 did not end within 1 s of its max duration (0 s): stopping it");
        assertThat(calls).last().asString().startsWith("POST /api/v1/sessions/s1/stop");
    }

    @Test
    void aSessionThatEndedWhileItsStreamStalledEndsAsTheServerSays() {
        silent = true;
        sessionNow = "{\"id\":\"s1\",\"state\":\"ENDED\",\"end\":\"MAX_DURATION\","
                + "\"endReason\":\"max duration of 2 s reached\"}";
        int exit = new TraceCommand(client(), Duration.ofSeconds(1)).run(List.of("trace", "acme-1", "--pid", "42"));

        assertThat(exit).as(err.toString()).isZero();
        assertThat(err.toString()).contains("# session ended: max duration of 2 s reached (its event stream stalled; "
                + "the state was read over REST)");
    }

    @Test
    void badUsageIsExitTwoWithoutCallingTheServer() {
        assertThat(client().execute(List.of("trace", "acme-1"))).isEqualTo(2);
        assertThat(client().execute(List.of("trace", "acme-1", "--pid", "1", "--process", "sh"))).isEqualTo(2);
        assertThat(client().execute(List.of("trace", "acme-1", "--pid", "x"))).isEqualTo(2);
        assertThat(client().execute(List.of("trace"))).isEqualTo(2);
        assertThat(err.toString()).contains("either --pid or --process", "usage: ps VM", "trace VM (--pid N");
        assertThat(calls).isEmpty();
    }
}
