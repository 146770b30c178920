package dev.periscope.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.fleet.Agents;
import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The whole server (real security, database, controllers, pages) over one {@link FakeAgent} whose host h1 runs acme-1
 * (tenant acme, self-service without approval) and globex-1 (tenant globex, every session needs an operator), each
 * with a daemon named after it; the demo data's users acme-admin, acme-user, globex-admin and globex-user, and the
 * bootstrap operator. Subclasses share one application context (and these static fixtures).
 *
 * <p>Logging runs at DEBUG for Periscope's own code and for Spring's HTTP codecs (which print decoded request and
 * encoded response bodies), so that the secrets scan sees what an operator who turned logging up would see
 * ({@link LogCapture} sets that up and keeps the log).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.limits.token-burst=100000", "periscope.limits.login-failures=1000",
                "periscope.limits.login-failures-per-user=1000"})
@Import(LogCapture.class)
abstract class TwoTenantServer {

    static final Path VAR = WebSliceConfiguration.newVarDir();
    static final FakeAgent AGENT = new FakeAgent("h1");
    static final Secrets SECRETS = new Secrets();
    static final List<String> TENANTS = List.of("acme", "globex");
    /** One client for the whole run (its connection pool), as a tool would keep. */
    static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private static final Pattern API_TOKEN_PREFIX = Pattern.compile("psc_[0-9a-f]{4,}");
    private static final Pattern CSRF_INPUT = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"");
    private static final Pattern CSRF_META = Pattern.compile("<meta name=\"csrf-token\" content=\"([^\"]+)\"");

    /** Everyone the matrix calls as, in a fixed order: anonymous first, then the operator, then each tenant's users. */
    static final Map<String, Principal> PRINCIPALS = new LinkedHashMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(AGENT::close, "fake-agent-close"));
    }

    @Autowired
    Agents agents;

    @LocalServerPort
    int port;

    /**
     * Who calls: {@code tenant} null for the operator and for anonymous, {@code token} null for anonymous; role
     * "revoked" is a token of acme-user that the operator revoked.
     */
    record Principal(String name, String role, String tenant, String token) {

        boolean anonymous() {
            return token == null;
        }

        boolean operator() {
            return "operator".equals(role);
        }

        boolean revoked() {
            return "revoked".equals(role);
        }
    }

    /** A browser's login: its session cookie and the CSRF token its pages carry. */
    record BrowserSession(String cookie, String csrf) {
    }

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        FleetSliceConfiguration.register(registry, AGENT);
    }

    @BeforeEach
    void twoTenants() throws IOException {
        LogCapture.attach();
        AGENT.vms(FakeAgent.vm("acme-1", "acme", true, 512, Capability.READ_MEMORY, Capability.COW_SNAPSHOT),
                FakeAgent.vm("globex-1", "globex", true, 512, Capability.READ_MEMORY, Capability.COW_SNAPSHOT));
        for (String vm : List.of("acme-1", "globex-1")) {
            AGENT.answerAll(vm, List.of(FakeAgent.process(42, 1, vm + "-daemon", false, "/usr/sbin/" + vm + "-daemon")));
        }
        FleetSliceConfiguration.awaitListed(agents, AGENT);
        synchronized (PRINCIPALS) {
            if (PRINCIPALS.isEmpty()) {
                SECRETS.add("operator password", read("operator.password"));
                PRINCIPALS.put("anonymous", new Principal("anonymous", null, null, null));
                PRINCIPALS.put("operator", new Principal("operator", "operator", null,
                        SECRETS.add("operator token", read("operator.token"))));
                for (String tenant : TENANTS) {
                    for (String role : List.of("admin", "user")) {
                        String user = tenant + "-" + role;
                        BrowserSession session = login(user, demoPassword(user));
                        String token = (String) tokenFor(session, "matrix").get("token");
                        PRINCIPALS.put(user, new Principal(user, role, tenant, token));
                    }
                }
                Map<String, Object> revoked = tokenFor(login("acme-user", demoPassword("acme-user")), "revoked");
                assertThat(http().call("DELETE", "/api/v1/tokens/" + revoked.get("id")).bearer(operatorToken()).send()
                        .status()).isEqualTo(200);
                PRINCIPALS.put("revoked-token", new Principal("revoked-token", "revoked", "acme",
                        (String) revoked.get("token")));
            }
        }
    }

    /** Nothing the run handled as a secret (passwords, tokens, cookies, CSRF tokens) is in what the server logged. */
    @AfterAll
    static void nothingSecretWasLogged() throws IOException {
        LogCapture.release();
        String log = LogCapture.text();
        assertThat(log).as("the captured log holds the server's DEBUG output").contains("Decoded [");
        assertThat(SECRETS.size()).as("secrets handled in the run").isGreaterThan(10);
        List<String> found = SECRETS.foundIn("the server's log", log);
        Path report = Path.of("target", "security", "secrets-scan.txt");
        Files.createDirectories(report.getParent());
        Files.writeString(report, String.format("%d secrets (%s) searched for in %d characters of DEBUG log: %d found%n",
                SECRETS.size(), SECRETS.kinds(), log.length(), found.size()), StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
        assertThat(found).isEmpty();
        assertThat(API_TOKEN_PREFIX.matcher(log).results().map(m -> m.group().substring(0, 8) + "...").toList())
                .as("API token prefixes (a log line cut short still shows the start of a secret)").isEmpty();
    }

    static Principal principal(String name) {
        return PRINCIPALS.get(name);
    }

    static String operatorToken() {
        return principal("operator").token();
    }

    // ---------------------------------------------------------------- browser logins

    /** Logs in through the form as a browser does; the session cookie it ends with, and its pages' CSRF token. */
    BrowserSession login(String user, String password) {
        Http.Response page = http().get("/login").send();
        assertThat(page.status()).isEqualTo(200);
        String before = page.cookie("SESSION").orElseThrow();
        Http.Response done = http().post("/login").cookie(before).form("username=" + encode(user) + "&password="
                + encode(password) + "&_csrf=" + encode(csrfIn(page.body()))).send();
        assertThat(done.status()).as("login of " + user).isEqualTo(302);
        assertThat(done.header("Location")).contains("/");
        String cookie = done.cookie("SESSION").orElseThrow(() -> new AssertionError("no new session cookie at login"));
        SECRETS.add("session cookie", cookie);
        return new BrowserSession(cookie, csrfOfPage(cookie, "/tokens"));
    }

    /** The CSRF token in the page at {@code path} as the browser session sees it. */
    String csrfOfPage(String cookie, String path) {
        Http.Response page = http().get(path).cookie(cookie).send();
        assertThat(page.status()).as(path).isEqualTo(200);
        Matcher meta = CSRF_META.matcher(page.body());
        assertThat(meta.find()).as("the CSRF meta tag of " + path).isTrue();
        return SECRETS.add("csrf token", meta.group(1));
    }

    static String csrfIn(String page) {
        Matcher csrf = CSRF_INPUT.matcher(page);
        assertThat(csrf.find()).as("a _csrf field").isTrue();
        return SECRETS.add("csrf token", csrf.group(1));
    }

    /** A new API token of the browser session's user, made as the tokens page makes it. */
    Map<String, Object> tokenFor(BrowserSession session, String name) {
        Http.Response issued = http().post("/api/v1/tokens").cookie(session.cookie())
                .header("X-CSRF-TOKEN", session.csrf()).json(Map.of("name", name, "ttlDays", 1)).send();
        assertThat(issued.status()).as(issued.body()).isEqualTo(201);
        SECRETS.add("api token", (String) issued.json().get("token"));
        return issued.json();
    }

    static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    // ---------------------------------------------------------------- bearer calls

    Http http() {
        return new Http("http://localhost:" + port, CLIENT);
    }

    Http.Call asOperator(String method, String uri) {
        return http().call(method, uri).bearer(operatorToken());
    }

    /** {@code uri} read as the operator; fails unless it answers 200. */
    Http.Response readAsOperator(String uri) {
        Http.Response response = asOperator("GET", uri).send();
        assertThat(response.status()).as("GET " + uri + ": " + response.body()).isEqualTo(200);
        return response;
    }

    List<Map<String, Object>> listAsOperator(String uri) {
        return readAsOperator(uri).jsonList();
    }

    /** The newest audit records, newest first. */
    List<Map<String, Object>> audit(int limit) {
        return listAsOperator("/api/v1/audit?limit=" + limit);
    }

    static long newestAuditId(List<Map<String, Object>> records) {
        return records.isEmpty() ? 0 : ((Number) records.getFirst().get("id")).longValue();
    }

    // ---------------------------------------------------------------- var files

    static String demoPassword(String user) {
        String password = read("demo-users.txt").lines().filter(l -> l.startsWith(user + " "))
                .map(l -> l.split(" ")[1]).findFirst().orElseThrow();
        return SECRETS.add("demo password", password);
    }

    static String read(String file) {
        try {
            return Files.readString(VAR.resolve(file)).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

}
