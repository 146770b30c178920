package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.fleet.Agents;
import dev.periscope.vm.FleetSliceConfiguration;
import io.r2dbc.spi.ConnectionFactory;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.ApplicationContext;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseCookie;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.util.LinkedMultiValueMap;
import org.springframework.web.reactive.function.BodyInserters;

/**
 * The REST API over a real database (an H2 file in a temporary var directory, demo data on first start) with the
 * engine mocked: tenants acme and globex each own one VM. The tenant-isolation matrix drives every endpoint that
 * names an object from one table; a new endpoint is one line in {@link #objectEndpoints}.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.limits.token-burst=100000", "periscope.limits.login-failures=1000"})
@AutoConfigureWebTestClient(timeout = "PT30S")
class ApiTest {

    static final Path VAR = newVarDir();
    static final ParameterizedTypeReference<Map<String, Object>> MAP = new ParameterizedTypeReference<>() {
    };
    static final ParameterizedTypeReference<List<Map<String, Object>>> LIST = new ParameterizedTypeReference<>() {
    };
    static final Map<String, String> TOKENS = new HashMap<>();

    @Autowired
    WebTestClient web;

    @LocalServerPort
    int port;

    @Autowired
    Agents agents;

    @Autowired
    ApplicationContext context;

    static final FakeAgent AGENT = new FakeAgent("h1");

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        FleetSliceConfiguration.register(registry, AGENT);
    }

    @AfterAll
    static void stopAgent() {
        AGENT.close();
    }

    @BeforeEach
    void fleet() {
        tenantVms(AGENT);
        FleetSliceConfiguration.awaitListed(agents, AGENT);
    }

    /** acme-1 (tenant acme) and globex-1 (globex) on {@code agent}, each running a daemon named after it. */
    static void tenantVms(FakeAgent agent) {
        agent.vms(FakeAgent.vm("acme-1", "acme", true, 512, Capability.READ_MEMORY, Capability.COW_SNAPSHOT),
                FakeAgent.vm("globex-1", "globex", true, 512, Capability.READ_MEMORY, Capability.COW_SNAPSHOT));
        for (String vm : List.of("acme-1", "globex-1")) {
            agent.answerAll(vm, List.of(FakeAgent.process(42, 1, vm + "-daemon", false, "/usr/sbin/" + vm + "-daemon")));
        }
    }

    // ---------------------------------------------------------------- the isolation matrix

    /** Every endpoint naming one object, with globex's objects filled in: acme's callers must get 404. */
    static List<String[]> objectEndpoints(Map<String, String> globex) {
        String processSession = "{\"vm\":\"globex-1\",\"kind\":\"PROCESS_LIST\"}";
        String request = "{\"vm\":\"globex-1\",\"kind\":\"PROCESS_LIST\",\"minutes\":5,\"reason\":\"look\"}";
        return List.of(
                new String[] {"GET", "/api/v1/vms/globex-1", null},
                new String[] {"GET", "/api/v1/vms/globex-1/processes?mode=live", null},
                new String[] {"GET", "/api/v1/vms/globex-1/overhead", null},
                new String[] {"POST", "/api/v1/vms/globex-1/snapshots", null},
                new String[] {"POST", "/api/v1/sessions", processSession},
                new String[] {"GET", "/api/v1/sessions/" + globex.get("session"), null},
                new String[] {"GET", "/api/v1/sessions/" + globex.get("session") + "/overhead", null},
                new String[] {"GET", "/api/v1/sessions/" + globex.get("session") + "/events", null},
                new String[] {"POST", "/api/v1/sessions/" + globex.get("session") + "/stop", null},
                new String[] {"POST", "/api/v1/requests", request},
                new String[] {"GET", "/api/v1/requests/" + globex.get("request"), null},
                new String[] {"GET", "/api/v1/tenants/globex", null},
                new String[] {"DELETE", "/api/v1/tokens/" + globex.get("tokenId"), null});
    }

    /** Every list: acme's callers must see none of globex's rows. */
    static final List<String> LISTS = List.of("/api/v1/vms", "/api/v1/sessions", "/api/v1/requests", "/api/v1/audit",
            "/api/v1/tokens", "/api/v1/users", "/api/v1/tenants");

    @Test
    void theServerTalksR2dbcOnlyAndH2OnThreadsOfItsOwn() {
        // Flyway migrates over JDBC at start-up; no JDBC DataSource may stand beside the application's R2DBC
        assertThat(context.getBeanNamesForType(DataSource.class)).isEmpty();
        assertThat(context.getBean(ConnectionFactory.class).getClass().getSimpleName())
                .isEqualTo("OffloadedConnectionFactory");
    }

    @Test
    void tenantACannotSeeOrTouchTenantBsObjects() throws IOException {
        Map<String, String> globex = globexObjects();
        for (String acmeUser : List.of("acme-user", "acme-admin")) {
            String token = tokenOf(acmeUser);
            for (String[] endpoint : objectEndpoints(globex)) {
                var spec = web.method(HttpMethod.valueOf(endpoint[0])).uri(endpoint[1])
                        .header("Authorization", "Bearer " + token);
                if (endpoint[0].equals("GET") && endpoint[1].endsWith("/events")) {
                    spec = spec.accept(MediaType.APPLICATION_NDJSON);
                }
                var exchange = endpoint[2] == null ? spec.exchange()
                        : spec.contentType(MediaType.APPLICATION_JSON).bodyValue(endpoint[2]).exchange();
                String body = exchange.expectStatus().value(status -> assertThat(status)
                                .as("%s %s %s as %s", endpoint[0], endpoint[1], endpoint[2], acmeUser).isEqualTo(404))
                        .expectBody(String.class).returnResult().getResponseBody();
                assertThat(body).as("%s %s", endpoint[0], endpoint[1])
                        .doesNotContain("globex-1-daemon", "globex-user", "\"tenant\":\"globex\"", "look");
            }
            for (String list : LISTS) {
                String body = web.get().uri(list).header("Authorization", "Bearer " + token).exchange()
                        .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
                assertThat(body).as(list + " as " + acmeUser).doesNotContain("globex");
            }
        }
        // globex's session survived acme's stop attempts.
        web.get().uri("/api/v1/sessions/" + globex.get("session")).header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ACTIVE");
    }

    private Map<String, String> globexObjects() throws IOException {
        Map<String, String> objects = new HashMap<>();
        Map<String, Object> session = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "globex-1", "kind", "PROCESS_LIST", "intervalSeconds", 60))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        objects.put("session", (String) session.get("id"));
        String globexToken = tokenOf("globex-user");
        Map<String, Object> request = web.post().uri("/api/v1/requests").header("Authorization", "Bearer " + globexToken)
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "globex-1", "kind", "PROCESS_LIST", "minutes", 5, "reason", "look"))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        assertThat(request).containsEntry("state", "SUBMITTED"); // globex's policy: an operator decides
        objects.put("request", (String) request.get("id"));
        web.get().uri("/api/v1/vms/globex-1/processes?mode=live").header("Authorization", "Bearer " + globexToken)
                .exchange().expectStatus().isOk();
        List<Map<String, Object>> tokens = web.get().uri("/api/v1/tokens").header("Authorization", "Bearer " + globexToken)
                .exchange().expectStatus().isOk().expectBody(LIST).returnResult().getResponseBody();
        objects.put("tokenId", (String) tokens.getFirst().get("id"));
        return objects;
    }

    // ---------------------------------------------------------------- sessions

    @Test
    void idempotencyKeyGivesTheSameSessionAndRefusesAnotherBody() throws IOException {
        Map<String, Object> body = Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "intervalSeconds", 60);
        Map<String, Object> first = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .header("Idempotency-Key", "k-1").contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
        Map<String, Object> again = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .header("Idempotency-Key", "k-1").contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody(MAP).returnResult().getResponseBody();
        assertThat(again.get("id")).isEqualTo(first.get("id"));
        web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .header("Idempotency-Key", "k-1").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "intervalSeconds", 30))
                .exchange().expectStatus().isEqualTo(422)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").value(String.class,
                        d -> assertThat(d).contains("Idempotency-Key 'k-1'", "different request body"));
        stop((String) first.get("id"));
    }

    @Test
    void processListSessionStreamsListsAsNdjsonAndEndsWhenStopped() throws IOException {
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + tokenOf("acme-user"))
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "mode", "live", "intervalSeconds", 1,
                        "maxEvents", 2))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
        List<Map<String, Object>> events = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + tokenOf("acme-user")).accept(MediaType.APPLICATION_NDJSON)
                .exchange().expectStatus().isOk()
                .returnResult(MAP).getResponseBody().collectList().block(Duration.ofSeconds(20));
        assertThat(events).as(events.toString()).extracting(e -> e.get("type")).containsSubsequence("state", "processes", "processes", "state");
        assertThat(events.getLast().toString()).contains("ENDED", "max events");
        assertThat(events.get(1).toString()).contains("acme-1-daemon");
        web.get().uri("/api/v1/sessions/" + id).header("Authorization", "Bearer " + operator()).exchange()
                .expectBody().jsonPath("$.state").isEqualTo("ENDED").jsonPath("$.eventsDelivered").isEqualTo(2);
        web.get().uri("/api/v1/sessions/" + id + "/overhead").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[?(@.metric == 'read_us')].samples").isEqualTo(2);
    }

    @Test
    void aTraceSlowToStartOnItsAgentTracesForItsWholeDuration() throws IOException, InterruptedException {
        AGENT.traceStart(Duration.ofSeconds(3)); // longer than the session's 2 s: its time counts from the start
        Thread writer = Thread.ofPlatform().daemon().start(() -> {
            for (int i = 0; i < 100 && !Thread.currentThread().isInterrupted(); i++) {
                AGENT.rig("acme-1").syscall(300, 0);
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try {
            String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                    .contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(Map.of("vm", "acme-1", "kind", "TRACE", "targetPid", 300, "method", "M5",
                            "maxDurationSeconds", 2))
                    .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
            List<Map<String, Object>> events = web.get().uri("/api/v1/sessions/" + id + "/events")
                    .header("Authorization", "Bearer " + operator()).accept(MediaType.APPLICATION_NDJSON)
                    .exchange().expectStatus().isOk()
                    .returnResult(MAP).getResponseBody().collectList().block(Duration.ofSeconds(30));
            assertThat(events).as(events.toString()).extracting(e -> e.get("type"))
                    .containsSubsequence("state", "trace", "syscall", "state");
            assertThat(events.getLast().toString()).contains("ENDED", "max duration of 2 s");
            assertThat(events.stream().filter(e -> "syscall".equals(e.get("type"))).count()).isGreaterThan(5);
            // the end its runner saw is audited like a stop (the record follows the final event)
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!audited("SESSION_ENDED").contains(id)) {
                assertThat(System.nanoTime()).as("SESSION_ENDED audited for " + id).isLessThan(deadline);
                Thread.sleep(100);
            }
        } finally {
            AGENT.traceStart(Duration.ZERO);
            writer.interrupt();
            writer.join();
        }
    }

    /** The operator's view of the newest audit records of {@code action}, as JSON. */
    private String audited(String action) throws IOException {
        return web.get().uri("/api/v1/audit?limit=1000&action=" + action).header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
    }

    @Test
    void sseCarriesIdsAndResumesAfterLastEventId() throws IOException {
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "mode", "live", "intervalSeconds", 1,
                        "maxEvents", 2))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
        var stream = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + operator()).accept(MediaType.TEXT_EVENT_STREAM).exchange()
                .returnResult(new ParameterizedTypeReference<ServerSentEvent<String>>() {
                });
        assertThat(stream.getResponseHeaders().getContentType()).hasToString("text/event-stream;charset=UTF-8");
        List<ServerSentEvent<String>> all = stream.getResponseBody().collectList().block(Duration.ofSeconds(20));
        assertThat(all).extracting(ServerSentEvent::event).containsExactly("state", "processes", "processes", "state");
        List<Long> ids = all.stream().map(e -> Long.parseLong(e.id())).toList();
        assertThat(ids).isSorted().doesNotHaveDuplicates();
        List<String> resumed = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + operator()).header("Last-Event-ID", all.get(1).id())
                .accept(MediaType.TEXT_EVENT_STREAM).exchange()
                .returnResult(new ParameterizedTypeReference<ServerSentEvent<String>>() {
                }).getResponseBody().map(e -> e.id()).collectList().block(Duration.ofSeconds(20));
        assertThat(resumed).containsExactly(all.get(2).id(), all.get(3).id());
    }

    @Test
    void approvalTenantGoesThroughARequestThatAnOperatorApproves() throws IOException {
        String globexUser = tokenOf("globex-user");
        web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + globexUser)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("vm", "globex-1", "kind", "PROCESS_LIST"))
                .exchange().expectStatus().isForbidden()
                .expectBody().jsonPath("$.detail").value(String.class, d -> assertThat(d).contains("requires operator approval"));
        String requestId = (String) web.post().uri("/api/v1/requests").header("Authorization", "Bearer " + globexUser)
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "globex-1", "kind", "PROCESS_LIST", "minutes", 1, "reason", "incident 7"))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
        web.post().uri("/api/v1/requests/" + requestId + "/approve").header("Authorization", "Bearer " + globexUser)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("reason", "self"))
                .exchange().expectStatus().isForbidden();
        Map<String, Object> approved = web.post().uri("/api/v1/requests/" + requestId + "/approve")
                .header("Authorization", "Bearer " + operator()).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("reason", "incident confirmed")).exchange().expectStatus().isOk()
                .expectBody(MAP).returnResult().getResponseBody();
        assertThat(approved).containsEntry("state", "APPROVED").containsEntry("decidedBy", "operator");
        String session = (String) approved.get("sessionId");
        web.get().uri("/api/v1/sessions/" + session).header("Authorization", "Bearer " + globexUser).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.openedBy").isEqualTo("globex-user")
                .jsonPath("$.requestId").isEqualTo(requestId);
        web.post().uri("/api/v1/requests/" + requestId + "/reject").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("reason", "too late"))
                .exchange().expectStatus().isEqualTo(409);
        stop(session);
        String audit = web.get().uri("/api/v1/audit?limit=1000").header("Authorization", "Bearer " + globexUser).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(audit).contains("REQUEST_SUBMITTED", "REQUEST_APPROVED", "SESSION_STARTED", "SESSION_STOPPED",
                "TOKEN_CREATED", "LOGIN_SUCCESS");
    }

    @Test
    void invalidInputIsAProblemNamingTheField() throws IOException {
        web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "intervalSeconds", 0, "mode", "fast"))
                .exchange().expectStatus().isBadRequest()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").value(String.class, d -> assertThat(d)
                        .contains("intervalSeconds must be greater than or equal to 1", "mode must be one of"));
        web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("vm", "acme-1", "kind", "TRACE"))
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.detail").isEqualTo("a trace session needs a targetPid or a targetProcess");
    }

    // ---------------------------------------------------------------- accounts, tokens, limits, policy, demo data

    @Test
    void demoUsersFileIsOwnerOnlyAndTokensAreShownOnceAndRevocable() throws IOException {
        assertThat(Files.getPosixFilePermissions(VAR.resolve("demo-users.txt")))
                .containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
        String session = login(web, "acme-admin", demoPassword(VAR, "acme-admin"));
        Map<String, Object> issued = newToken(web, session, "ci");
        String secret = (String) issued.get("token");
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + secret).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.length()").isEqualTo(1).jsonPath("$[0].name").isEqualTo("acme-1");
        String listed = web.get().uri("/api/v1/tokens").header("Authorization", "Bearer " + secret).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(listed).doesNotContain(secret).contains("\"lastUsedAt\":\"");
        web.delete().uri("/api/v1/tokens/" + issued.get("id")).header("Authorization", "Bearer " + secret).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.active").isEqualTo(false);
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + secret).exchange().expectStatus().isUnauthorized();
    }

    @Test
    void flaskPolicyHasATypePairAndExactlyTheVmiPermissionsPerTenant() throws IOException {
        String policy = web.get().uri("/api/v1/policy/flask").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        for (String t : List.of("acme", "globex")) {
            assertThat(policy).contains("declare_domain(periscope_" + t + "_t)", "declare_domain(" + t + "_domU_t)",
                    "periscope_monitor(periscope_" + t + "_t, " + t + "_domU_t)");
        }
        assertThat(policy).contains("tenant acme: VMs acme-1").doesNotContain("periscope_acme_t, globex_domU_t")
                .doesNotContain("allow ");
        assertThat(policy).as("the operator's view").contains("periscope_monitor(dom0_t, acme_domU_t)",
                "periscope_monitor(dom0_t, domU_t)");
        // a tenant whose guests' type Xen's own policy declares could never be rendered into it
        web.post().uri("/api/v1/tenants").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("id", "prot", "displayName", "Prot",
                        "policy", Map.of("approvalRequired", false, "maxConcurrentSessions", 1, "maxTraceMinutesPerDay", 10)))
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.detail").value(String.class, d -> assertThat(d).contains("prot_domU_t"));
        web.get().uri("/api/v1/policy/flask").header("Authorization", "Bearer " + tokenOf("acme-admin")).exchange()
                .expectStatus().isForbidden();
    }

    /**
     * A keep-alive connection must keep answering after the server buffered a request that arrived before the
     * previous one had finished (the first here completes on another thread, the login page making a web session;
     * the second on the event loop).
     * Reactor Netty 1.3.7 stopped reading such a connection (reactor-netty#4361): browsers' and clients' next
     * request on it hung until they gave up.
     */
    @Test
    void keepAliveConnectionAnswersAfterPipelinedRequests() throws IOException {
        try (Socket socket = new Socket("localhost", port)) {
            socket.setSoTimeout(10_000);
            String page = "GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n";
            // Refused at once, on the event loop: a bad bearer token.
            String api = "GET /api/v1/vms HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer not-a-token\r\n\r\n";
            OutputStream out = socket.getOutputStream();
            out.write((page + api).getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(readResponses(socket, 2)).containsExactly("200", "401");
            out.write(api.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            assertThat(readResponses(socket, 1)).containsExactly("401");
        }
    }

    /** Reads {@code count} HTTP/1.1 responses (fixed length or chunked) and returns their status codes. */
    private static List<String> readResponses(Socket socket, int count) throws IOException {
        var in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        List<String> statuses = new ArrayList<>();
        while (statuses.size() < count) {
            statuses.add(line(in).split(" ")[1]);
            long length = 0;
            boolean chunked = false;
            for (String header = line(in); !header.isEmpty(); header = line(in)) {
                String lower = header.toLowerCase(Locale.ROOT);
                if (lower.startsWith("content-length:")) {
                    length = Long.parseLong(lower.substring(15).strip());
                }
                chunked |= lower.startsWith("transfer-encoding:") && lower.contains("chunked");
            }
            if (chunked) {
                for (long chunk = Long.parseLong(line(in).strip(), 16); chunk > 0;
                     chunk = Long.parseLong(line(in).strip(), 16)) {
                    in.skipNBytes(chunk + 2);
                }
                line(in);
            } else {
                in.skipNBytes(length);
            }
        }
        return statuses;
    }

    private static String line(DataInputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new EOFException("connection closed after: " + line);
            }
            if (c != '\r') {
                line.append((char) c);
            }
        }
        return line.toString();
    }

    @Test
    void openApiDocumentDescribesTheApi() {
        web.get().uri("/v3/api-docs").exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.paths['/api/v1/sessions']").exists()
                .jsonPath("$.paths['/api/v1/requests/{id}/approve']").exists()
                .jsonPath("$.components.schemas.HostView.properties.tenant.type").isEqualTo("string")
                .jsonPath("$.components.schemas.HostView.properties.state.enum").value(states ->
                        assertThat(states.toString()).contains("REFUSED"));
    }

    // ---------------------------------------------------------------- helpers

    private void stop(String session) throws IOException {
        web.post().uri("/api/v1/sessions/" + session + "/stop").header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ENDED");
    }

    static String operator() throws IOException {
        return Files.readString(VAR.resolve("operator.token")).strip();
    }

    private String tokenOf(String user) throws IOException {
        if (!TOKENS.containsKey(user)) {
            TOKENS.put(user, userToken(web, VAR, user));
        }
        return TOKENS.get(user);
    }

    /** A new API token of demo user {@code user} of the server whose var directory is {@code var}, made at login. */
    static String userToken(WebTestClient web, Path var, String user) throws IOException {
        return (String) newToken(web, login(web, user, demoPassword(var, user)), "test").get("token");
    }

    private static Map<String, Object> newToken(WebTestClient web, String sessionCookie, String name) {
        String page = web.get().uri("/").cookie("SESSION", sessionCookie).exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        Matcher csrf = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"").matcher(page);
        String token = csrf.find() ? csrf.group(1) : csrfFromLogin(web, sessionCookie);
        return web.post().uri("/api/v1/tokens").cookie("SESSION", sessionCookie).header("X-CSRF-TOKEN", token)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("name", name, "ttlDays", 1))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody();
    }

    private static String csrfFromLogin(WebTestClient web, String sessionCookie) {
        String page = web.get().uri("/login").cookie("SESSION", sessionCookie).exchange()
                .expectBody(String.class).returnResult().getResponseBody();
        Matcher csrf = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"").matcher(page);
        assertThat(csrf.find()).isTrue();
        return csrf.group(1);
    }

    private static String login(WebTestClient web, String user, String password) {
        var login = web.get().uri("/login").exchange().expectStatus().isOk().expectBody(String.class).returnResult();
        Matcher csrf = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"").matcher(login.getResponseBody());
        assertThat(csrf.find()).isTrue();
        ResponseCookie session = login.getResponseCookies().getFirst("SESSION");
        var form = new LinkedMultiValueMap<String, String>();
        form.add("username", user);
        form.add("password", password);
        form.add("_csrf", csrf.group(1));
        var result = web.post().uri("/login").cookie("SESSION", session.getValue())
                .contentType(MediaType.APPLICATION_FORM_URLENCODED).body(BodyInserters.fromFormData(form))
                .exchange().expectStatus().is3xxRedirection().expectHeader().location("/")
                .expectBody().returnResult();
        ResponseCookie renewed = result.getResponseCookies().getFirst("SESSION");
        return renewed != null ? renewed.getValue() : session.getValue();
    }

    static String demoPassword(Path var, String user) throws IOException {
        return Files.readAllLines(var.resolve("demo-users.txt")).stream().filter(l -> l.startsWith(user + " "))
                .map(l -> l.split(" ")[1]).findFirst().orElseThrow();
    }

    static Path newVarDir() {
        try {
            return Files.createTempDirectory("periscope-api-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
