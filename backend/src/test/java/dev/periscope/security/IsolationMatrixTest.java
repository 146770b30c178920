package dev.periscope.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.security.ApiSurface.Endpoint;
import dev.periscope.security.ApiSurface.Surface;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.actuate.autoconfigure.endpoint.web.WebEndpointProperties;
import org.springframework.boot.actuate.endpoint.web.WebEndpointsSupplier;
import org.springframework.boot.health.actuate.endpoint.HealthEndpointGroups;
import org.springframework.web.reactive.result.method.annotation.RequestMappingHandlerMapping;

/**
 * The tenant-isolation matrix, generated: every operation of the OpenAPI document the server serves (each media type
 * of a streamed response on its own), every dashboard page of the router and every operation the actuator exposes on
 * the same port (health and its groups, Prometheus), called as anonymous, with a revoked token (401 everywhere but
 * health), as the operator and as each role of each tenant, against each tenant's objects (its VM, a session,
 * a self-service request, an API token of its user, the tenant itself) and, for lists, with no object. For every
 * cell:
 * <ul>
 *   <li>the status is the one {@link #RULES} expects for who calls whose object (the rules name each operation once;
 *       an operation of the document without a rule, or a rule without an operation, fails the test);</li>
 *   <li>nothing of another tenant is in the response: its VMs, processes, users, sessions, requests, tokens, name
 *       (except what the caller itself sent, echoed in an error);</li>
 *   <li>a state-changing call that succeeded left an audit record naming its caller and the tenant whose object
 *       changed.</li>
 * </ul>
 * At the end no object was changed by another tenant: the fixtures are as they were and every audit record of a
 * tenant names an actor of that tenant or the operator; and no secret of the run is in the audit trail. The matrix is
 * written to {@code target/security/isolation-matrix.md}.
 */
class IsolationMatrixTest extends TwoTenantServer {

    private static final Path REPORT = Path.of("target", "security", "isolation-matrix.md");
    private static final AtomicInteger SERIAL = new AtomicInteger();
    private static final Pattern API_TOKEN = Pattern.compile("psc_[0-9a-f]{64}");

    @Autowired
    @Qualifier("requestMappingHandlerMapping")
    RequestMappingHandlerMapping mappings;
    @Autowired
    WebEndpointsSupplier actuator;
    @Autowired
    WebEndpointProperties actuatorProperties;
    @Autowired
    HealthEndpointGroups healthGroups;

    /** Who calls, relative to the tenant whose object the cell names (or, without one, to the caller's own tenant). */
    enum Who {
        ANONYMOUS, REVOKED_TOKEN, OPERATOR, OWN_ADMIN, OWN_USER, OTHER_ADMIN, OTHER_USER;

        boolean own() {
            return this == OWN_ADMIN || this == OWN_USER;
        }

        boolean other() {
            return this == OTHER_ADMIN || this == OTHER_USER;
        }
    }

    /** The status a cell expects. {@code approval}: whether the target tenant's policy needs an operator's approval. */
    @FunctionalInterface
    interface Rule {
        int expect(Who who, Endpoint endpoint, boolean approval);
    }

    /**
     * Anonymous callers: pages and the actuator send them to the login form; the API says 401, or 403 (no CSRF token)
     * when unsafe.
     */
    private static int anonymous(Endpoint e) {
        return e.surface() != Surface.API ? 302 : e.safe() ? 401 : 403;
    }

    /** Objects of the caller's tenant (all for the operator); another tenant's do not exist for it: 404. */
    private static final Rule OWN_OBJECT = (who, e, approval) -> switch (who) {
        case ANONYMOUS -> anonymous(e);
        case REVOKED_TOKEN -> 401;
        case OPERATOR, OWN_ADMIN, OWN_USER -> e.okStatus();
        case OTHER_ADMIN, OTHER_USER -> 404;
    };
    /** Everyone logged in; what they get is scoped to them (checked by the leak scan). */
    private static final Rule ANY_USER = (who, e, approval) -> who == Who.ANONYMOUS ? anonymous(e) : e.okStatus();
    private static final Rule OPERATOR_ONLY = (who, e, approval) -> switch (who) {
        case ANONYMOUS -> anonymous(e);
        case OPERATOR -> e.okStatus();
        default -> 403;
    };
    /** Tenants open sessions on their own VMs unless their policy wants an operator's approval. */
    private static final Rule OPEN_SESSION = (who, e, approval) -> who.own() && approval ? 403
            : OWN_OBJECT.expect(who, e, approval);
    /** Requests are for tenants; operators open sessions directly (400). */
    private static final Rule SUBMIT_REQUEST = (who, e, approval) -> who == Who.OPERATOR ? 400
            : OWN_OBJECT.expect(who, e, approval);
    /** Operators, and a tenant's admins in their own tenant. */
    private static final Rule CREATE_USER = (who, e, approval) -> switch (who) {
        case ANONYMOUS -> anonymous(e);
        case OPERATOR, OWN_ADMIN -> e.okStatus();
        default -> 403;
    };
    private static final Rule PUBLIC = (who, e, approval) -> 200;
    /** Answers before any credentials are looked at, so even a revoked token gets it (the actuator's health). */
    private static final Rule NO_CREDENTIALS = (who, e, approval) -> 200;

    /** The expected access of every operation and page, by method and path template. */
    static final Map<String, Rule> RULES = Map.ofEntries(
            Map.entry("GET /api/v1/vms", ANY_USER),
            Map.entry("GET /api/v1/vms/{vm}", OWN_OBJECT),
            Map.entry("PUT /api/v1/vms/{vm}/owner", OPERATOR_ONLY),
            Map.entry("DELETE /api/v1/vms/{vm}/owner", OPERATOR_ONLY),
            Map.entry("GET /api/v1/vms/{vm}/processes", OWN_OBJECT),
            Map.entry("GET /api/v1/vms/{vm}/overhead", OWN_OBJECT),
            Map.entry("POST /api/v1/vms/{vm}/snapshots", OWN_OBJECT),
            Map.entry("GET /api/v1/users", ANY_USER),
            Map.entry("POST /api/v1/users", CREATE_USER),
            Map.entry("GET /api/v1/tokens", ANY_USER),
            Map.entry("POST /api/v1/tokens", ANY_USER),
            Map.entry("DELETE /api/v1/tokens/{id}", OWN_OBJECT),
            Map.entry("GET /api/v1/tenants", ANY_USER),
            Map.entry("POST /api/v1/tenants", OPERATOR_ONLY),
            Map.entry("GET /api/v1/tenants/{id}", OWN_OBJECT),
            Map.entry("PUT /api/v1/tenants/{id}/policy", OPERATOR_ONLY),
            Map.entry("GET /api/v1/sessions", ANY_USER),
            Map.entry("POST /api/v1/sessions", OPEN_SESSION),
            Map.entry("GET /api/v1/sessions/{id}", OWN_OBJECT),
            Map.entry("POST /api/v1/sessions/{id}/stop", OWN_OBJECT),
            Map.entry("GET /api/v1/sessions/{id}/events", OWN_OBJECT),
            Map.entry("GET /api/v1/sessions/{id}/overhead", OWN_OBJECT),
            Map.entry("GET /api/v1/requests", ANY_USER),
            Map.entry("POST /api/v1/requests", SUBMIT_REQUEST),
            Map.entry("GET /api/v1/requests/{id}", OWN_OBJECT),
            Map.entry("POST /api/v1/requests/{id}/approve", OPERATOR_ONLY),
            Map.entry("POST /api/v1/requests/{id}/reject", OPERATOR_ONLY),
            Map.entry("GET /api/v1/policy/flask", OPERATOR_ONLY),
            Map.entry("GET /api/v1/kernel-profiles", OPERATOR_ONLY),
            Map.entry("GET /api/v1/hosts", OPERATOR_ONLY),
            Map.entry("GET /api/v1/audit", ANY_USER),
            Map.entry("GET /", ANY_USER),
            Map.entry("GET /login", PUBLIC),
            Map.entry("GET /vms/{vm}", OWN_OBJECT),
            Map.entry("GET /vms/{vm}/process-table", OWN_OBJECT),
            Map.entry("GET /sessions", ANY_USER),
            Map.entry("GET /sessions/{id}", OWN_OBJECT),
            Map.entry("GET /requests", ANY_USER),
            Map.entry("GET /tenants", OPERATOR_ONLY),
            Map.entry("GET /audit", ANY_USER),
            Map.entry("GET /tokens", ANY_USER),
            Map.entry("GET /experiment", ANY_USER),
            Map.entry("GET /actuator", OPERATOR_ONLY),
            Map.entry("GET /actuator/health", NO_CREDENTIALS),
            Map.entry("GET /actuator/health/liveness", NO_CREDENTIALS),
            Map.entry("GET /actuator/health/readiness", NO_CREDENTIALS),
            Map.entry("GET /actuator/prometheus", OPERATOR_ONLY));

    /** One tenant's objects that cells name, and every identifier of the tenant that another must never see. */
    record TenantObjects(String tenant, String session, String request, String token, Map<String, Object> policy,
                         Set<String> markers) {
    }

    /** A cell's outcome: whether its response was scanned for other tenants' identifiers, its audit record checked. */
    record Cell(Endpoint endpoint, String principal, String target, int expected, int actual, boolean scanned,
                boolean audited, List<String> problems) {
    }

    private final Map<String, TenantObjects> objects = new LinkedHashMap<>();
    private final Set<String> fixtureSessions = new HashSet<>();

    @Test
    void everyEndpointAsEveryoneAgainstEveryTenantLeaksNothing() throws IOException {
        Map<String, Object> doc = http().get("/v3/api-docs").send().json();
        List<Endpoint> operations = ApiSurface.operations(doc);
        var handlers = mappings.getHandlerMethods();
        Set<String> documented = operations.stream().map(Endpoint::operation)
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> api = ApiSurface.mapped(handlers).stream().filter(m -> m.split(" ")[1].startsWith("/api/"))
                .collect(Collectors.toCollection(TreeSet::new));
        assertThat(documented).as("the OpenAPI document holds every API mapping of the router").isEqualTo(api);
        List<Endpoint> endpoints = new ArrayList<>(operations);
        endpoints.addAll(ApiSurface.pages(handlers));
        endpoints.addAll(ApiSurface.actuator(actuator, actuatorProperties.getBasePath(),
                id -> id.equals("health") ? List.copyOf(healthGroups.getNames()) : List.of()));
        Set<String> ruled = endpoints.stream().map(Endpoint::operation).collect(Collectors.toCollection(TreeSet::new));
        assertThat(ruled).as("a rule for every operation, page and actuator operation, and no rule for one that is gone")
                .isEqualTo(new TreeSet<>(RULES.keySet()));

        for (String tenant : TENANTS) {
            objects.put(tenant, fixtures(tenant));
        }
        long auditStart = newestAuditId(audit(1));
        List<Cell> cells = new ArrayList<>();
        for (Endpoint endpoint : endpoints) {
            for (Principal principal : PRINCIPALS.values()) {
                for (String target : targeted(endpoint) ? TENANTS : java.util.Collections.<String>singletonList(null)) {
                    cells.add(run(endpoint, principal, target));
                }
            }
        }
        List<String> problems = new ArrayList<>();
        cells.forEach(c -> c.problems().forEach(p -> problems.add(c.endpoint().key() + " as " + c.principal()
                + (c.target() == null ? "" : " on " + c.target() + "'s") + ": " + p)));
        problems.addAll(fixturesIntact());
        problems.addAll(crossTenantActors(auditStart));
        problems.addAll(SECRETS.foundIn("the audit trail", readAsOperator("/api/v1/audit?limit=1000").body()));
        writeReport(endpoints, cells, problems);
        assertThat(problems).as("isolation matrix (%d cells, report in %s)", cells.size(), REPORT).isEmpty();
        assertThat(cells).hasSizeGreaterThan(450);
    }

    /** The leak scan itself: another tenant's identifiers are found, an echo of the caller's own input is not. */
    @Test
    void leakScanFindsForeignIdentifiersButNotEchoes() {
        var globex = new TenantObjects("globex", null, null, null, Map.of(),
                Set.of("globex", "globex-1", "globex-1-daemon"));
        List<TenantObjects> tenants = List.of(globex);
        assertThat(leaks("acme", "{\"detail\":\"no VM 'globex-1'\"}", List.of("globex-1"), tenants)).isEmpty();
        assertThat(leaks("acme", "[{\"name\":\"globex-1-daemon\"}]", List.of("globex-1"), tenants))
                .singleElement().asString().contains("'globex-1-daemon'");
        assertThat(leaks("acme", "<td>globex</td>", List.of(), tenants)).singleElement().asString()
                .contains("'globex'");
        assertThat(leaks("acme", "<td>globexcorp</td> acme-1", List.of(), tenants)).isEmpty();
        assertThat(leaks("globex", "<td>globex-1-daemon</td>", List.of(), tenants)).isEmpty();
    }

    // ---------------------------------------------------------------- the cells

    /** Whether the endpoint names a tenant's object: a path variable, or a VM or tenant in its body. */
    private static boolean targeted(Endpoint e) {
        return !e.variables().isEmpty() || e.body() != null && e.body().get("properties") instanceof Map<?, ?> p
                && (p.containsKey("vm") || p.containsKey("tenant"));
    }

    private Cell run(Endpoint e, Principal principal, String target) {
        Who who = who(principal, target);
        TenantObjects owner = target == null ? null : objects.get(target);
        Rule rule = RULES.get(e.operation());
        int expected = who == Who.REVOKED_TOKEN && rule != NO_CREDENTIALS ? 401 : rule.expect(who, e, owner != null
                && Boolean.TRUE.equals(owner.policy().get("approvalRequired")));
        boolean changes = !e.safe() && expected / 100 == 2;
        Map<String, String> fresh = changes && target != null ? freshObjects(e, target) : Map.of();
        String path = target == null ? e.path() : e.fill(v -> switch (v[0]) {
            case "vms" -> target + "-1";
            case "tenants" -> target;
            case "sessions" -> fresh.getOrDefault("sessions", owner.session());
            case "requests" -> fresh.getOrDefault("requests", owner.request());
            case "tokens" -> fresh.getOrDefault("tokens", owner.token());
            default -> throw new AssertionError("no object for {" + v[1] + "} after /" + v[0] + " in " + e.path());
        });
        Map<String, Object> body = e.body() == null ? null : ApiSurface.example(e.body(), hints(target));
        long auditBefore = changes ? newestAuditId(audit(1)) : 0;

        Http.Call call = http().call(e.method(), path).header("Accept", e.accept()).bearer(principal.token());
        if (body != null) {
            call.json(body);
        }
        if (e.stream()) {
            call.stream(e.accept().equals("text/event-stream") ? 3 : 1); // the first event: id, event and data lines
        }
        Http.Response result = call.send();
        int status = result.status();
        String response = result.body();
        Matcher issued = API_TOKEN.matcher(response);
        while (issued.find()) {
            SECRETS.add("api token", issued.group());
        }

        List<String> problems = new ArrayList<>();
        if (status != expected) {
            problems.add("status " + status + ", expected " + expected + ": " + abbreviate(response));
        }
        if (status == 302 && !result.header("Location").orElse("").endsWith("/login")) {
            problems.add("redirected to " + result.header("Location") + ", not the login page");
        }
        boolean scanned = !principal.operator() && !response.isEmpty();
        problems.addAll(leaks(principal, response, path, body));
        boolean audited = changes && status == expected;
        if (audited) {
            String tenant = target != null ? target
                    : e.path().endsWith("/tenants") ? (String) body.get("id") : principal.tenant();
            problems.addAll(audited(auditBefore, principal.name(), tenant));
            if (target != null && body != null && body.get("username") instanceof String user) {
                owner.markers().add(user);
            }
        }
        if (!e.safe()) {
            stopSessionsOpenedByCells();
        }
        return new Cell(e, principal.name(), target, expected, status, scanned, audited, problems);
    }

    private static Who who(Principal p, String target) {
        if (p.anonymous()) {
            return Who.ANONYMOUS;
        }
        if (p.operator()) {
            return Who.OPERATOR;
        }
        if (p.revoked()) {
            return Who.REVOKED_TOKEN;
        }
        boolean own = target == null || target.equals(p.tenant());
        return p.role().equals("admin") ? own ? Who.OWN_ADMIN : Who.OTHER_ADMIN : own ? Who.OWN_USER : Who.OTHER_USER;
    }

    /** Values for body properties that name things: the target's VM and tenant, new names, its current policy. */
    private Map<String, Object> hints(String target) {
        int n = SERIAL.incrementAndGet();
        Map<String, Object> hints = new HashMap<>();
        hints.put("vm", (target == null ? "acme" : target) + "-1");
        hints.put("tenant", target == null ? "acme" : target);
        hints.put("kind", "PROCESS_LIST");
        hints.put("intervalSeconds", 60);
        hints.put("minutes", 5);
        hints.put("reason", "matrix " + n);
        hints.put("name", "matrix " + n);
        hints.put("displayName", "Matrix tenant " + n);
        hints.put("id", "mx" + n);
        hints.put("username", "matrix-user-" + n);
        hints.put("password", SECRETS.add("new user password", "Pw-" + java.util.UUID.randomUUID()));
        hints.put("role", "TENANT_USER");
        Map<String, Object> policy = target == null
                ? Map.of("approvalRequired", true, "maxConcurrentSessions", 1, "maxTraceMinutesPerDay", 1)
                : objects.get(target).policy();
        hints.putAll(policy);
        return hints;
    }

    // ---------------------------------------------------------------- what must not be in a response

    /** Identifiers of tenants other than the caller's found in its response, outside what it sent itself. */
    private List<String> leaks(Principal principal, String response, String path, Map<String, Object> body) {
        if (principal.operator() || response.isEmpty()) {
            return List.of();
        }
        List<String> echoes = new ArrayList<>(List.of(path.split("[/?&=]")));
        if (body != null) {
            body.values().forEach(v -> echoes.add(String.valueOf(v)));
        }
        return leaks(principal.tenant(), response, echoes, objects.values());
    }

    /** Markers of {@code tenants} other than {@code callerTenant} in {@code response}, outside {@code echoes}. */
    static List<String> leaks(String callerTenant, String response, List<String> echoes,
                              Iterable<TenantObjects> tenants) {
        List<String> found = new ArrayList<>();
        for (TenantObjects other : tenants) {
            if (other.tenant().equals(callerTenant)) {
                continue;
            }
            for (String marker : other.markers()) {
                Matcher m = Pattern.compile("(?<![A-Za-z0-9])" + Pattern.quote(marker) + "(?![A-Za-z0-9])")
                        .matcher(response);
                while (m.find()) {
                    if (!insideEcho(response, m.start(), m.end(), echoes)) {
                        found.add("leaks " + other.tenant() + "'s '" + marker + "': ..."
                                + response.substring(Math.max(0, m.start() - 60), Math.min(response.length(), m.end() + 60))
                                .replace('\n', ' ') + "...");
                        break;
                    }
                }
            }
        }
        return found;
    }

    private static boolean insideEcho(String text, int start, int end, List<String> echoes) {
        for (String echo : echoes) {
            if (echo.length() < end - start) {
                continue;
            }
            for (int i = text.indexOf(echo, Math.max(0, end - echo.length())); i >= 0 && i <= start;
                 i = text.indexOf(echo, i + 1)) {
                if (i + echo.length() >= end) {
                    return true;
                }
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- audit

    /** An audit record newer than {@code after}, by {@code actor}, in {@code tenant}. */
    private List<String> audited(long after, String actor, String tenant) {
        List<Map<String, Object>> records = audit(100).stream()
                .filter(r -> ((Number) r.get("id")).longValue() > after).toList();
        boolean recorded = records.stream().anyMatch(r -> actor.equals(r.get("actor"))
                && java.util.Objects.equals(tenant, r.get("tenant")));
        return recorded ? List.of() : List.of("no audit record by " + actor + " in tenant " + tenant + " (new records: "
                + records.stream().map(r -> r.get("action") + " by " + r.get("actor") + " in " + r.get("tenant"))
                .toList() + ")");
    }

    /** Every audit record of a tenant since {@code after} names one of its own users, the operator or Periscope. */
    private List<String> crossTenantActors(long after) {
        Map<String, String> tenantOf = new HashMap<>();
        for (Map<String, Object> user : listAsOperator("/api/v1/users")) {
            tenantOf.put((String) user.get("username"), (String) user.get("tenant"));
        }
        List<String> problems = new ArrayList<>();
        for (Map<String, Object> r : audit(1000)) {
            String actor = (String) r.get("actor");
            String tenant = (String) r.get("tenant");
            if (((Number) r.get("id")).longValue() <= after || tenant == null || actor.equals("operator")
                    || actor.equals("policy") || actor.equals("periscope")) {
                continue;
            }
            if (!tenant.equals(tenantOf.get(actor))) {
                problems.add("audit: " + r.get("action") + " on " + r.get("target") + " in tenant " + tenant + " by "
                        + actor + " of tenant " + tenantOf.get(actor));
            }
        }
        return problems;
    }

    // ---------------------------------------------------------------- fixtures

    /** The tenant's long-lived objects (an active session, a submitted request, a token of its user) and markers. */
    private TenantObjects fixtures(String tenant) {
        Map<String, Object> t = readAsOperator("/api/v1/tenants/" + tenant).json();
        Map<String, Object> policy = new LinkedHashMap<>();
        for (String key : List.of("approvalRequired", "maxConcurrentSessions", "maxTraceMinutesPerDay")) {
            policy.put(key, t.get(key));
        }
        Set<String> markers = new LinkedHashSet<>(List.of(tenant, (String) t.get("displayName"), tenant + "-1",
                tenant + "-1@h1", tenant + "-1-daemon", tenant + "-admin", tenant + "-user"));
        TenantObjects o = new TenantObjects(tenant, null, null, null, policy, markers);
        objects.put(tenant, o);
        String session = newSession(tenant);
        fixtureSessions.add(session);
        o = new TenantObjects(tenant, session, newRequest(tenant), newToken(tenant), policy, markers);
        objects.put(tenant, o);
        return o;
    }

    /** New objects for a call that will change them (stop a session, decide a request, revoke a token). */
    private Map<String, String> freshObjects(Endpoint e, String tenant) {
        return switch (String.valueOf(e.collection())) {
            case "sessions" -> Map.of("sessions", newSession(tenant));
            case "requests" -> Map.of("requests", newRequest(tenant));
            case "tokens" -> Map.of("tokens", newToken(tenant));
            default -> Map.of();
        };
    }

    private String newSession(String tenant) {
        Http.Response opened = asOperator("POST", "/api/v1/sessions")
                .json(Map.of("vm", tenant + "-1", "kind", "PROCESS_LIST", "intervalSeconds", 60)).send();
        assertThat(opened.status()).as(opened.body()).isEqualTo(201);
        String id = (String) opened.json().get("id");
        objects.get(tenant).markers().add(id);
        return id;
    }

    /** A request left for an operator: for a tenant that needs no approval, submitted while its policy says it does. */
    private String newRequest(String tenant) {
        Map<String, Object> policy = objects.get(tenant).policy();
        boolean flip = !Boolean.TRUE.equals(policy.get("approvalRequired"));
        if (flip) {
            setPolicy(tenant, true, policy);
        }
        try {
            Http.Response submitted = http().post("/api/v1/requests").bearer(principal(tenant + "-user").token())
                    .json(Map.of("vm", tenant + "-1", "kind", "PROCESS_LIST", "minutes", 5,
                            "reason", "fixture of " + tenant)).send();
            assertThat(submitted.status()).as(submitted.body()).isEqualTo(201);
            Map<String, Object> request = submitted.json();
            assertThat(request).containsEntry("state", "SUBMITTED");
            objects.get(tenant).markers().add((String) request.get("id"));
            return (String) request.get("id");
        } finally {
            if (flip) {
                setPolicy(tenant, false, policy);
            }
        }
    }

    private void setPolicy(String tenant, boolean approval, Map<String, Object> policy) {
        Map<String, Object> body = new HashMap<>(policy);
        body.put("approvalRequired", approval);
        assertThat(asOperator("PUT", "/api/v1/tenants/" + tenant + "/policy").json(body).send().status())
                .isEqualTo(200);
    }

    /** A new token of the tenant's user, made with that user's own token. */
    private String newToken(String tenant) {
        Map<String, Object> issued = http().post("/api/v1/tokens").bearer(principal(tenant + "-user").token())
                .json(Map.of("name", "fixture", "ttlDays", 1)).send().json();
        SECRETS.add("api token", (String) issued.get("token"));
        objects.get(tenant).markers().add((String) issued.get("id"));
        return (String) issued.get("id");
    }

    /** Sessions that successful cells opened (directly or through a request policy approved) end at once. */
    private void stopSessionsOpenedByCells() {
        for (Map<String, Object> s : listAsOperator("/api/v1/sessions?state=active")) {
            String id = (String) s.get("id");
            if (!fixtureSessions.contains(id)) {
                assertThat(asOperator("POST", "/api/v1/sessions/" + id + "/stop").send().status()).isEqualTo(200);
            }
        }
    }

    /** The long-lived objects other tenants tried to change are unchanged. */
    private List<String> fixturesIntact() {
        List<String> problems = new ArrayList<>();
        for (TenantObjects o : objects.values()) {
            expectField(problems, "/api/v1/sessions/" + o.session(), "state", "ACTIVE");
            expectField(problems, "/api/v1/requests/" + o.request(), "state", "SUBMITTED");
            expectField(problems, "/api/v1/vms/" + o.tenant() + "-1", "tenant", o.tenant());
            Map<String, Object> tenant = readAsOperator("/api/v1/tenants/" + o.tenant()).json();
            o.policy().forEach((k, v) -> {
                if (!v.equals(tenant.get(k))) {
                    problems.add("tenant " + o.tenant() + "'s " + k + " is " + tenant.get(k) + ", was " + v);
                }
            });
            boolean active = listAsOperator("/api/v1/tokens").stream()
                    .anyMatch(t -> t.get("id").equals(o.token()) && Boolean.TRUE.equals(t.get("active")));
            if (!active) {
                problems.add("token " + o.token() + " of " + o.tenant() + "-user is no longer active");
            }
        }
        return problems;
    }

    private void expectField(List<String> problems, String uri, String field, Object value) {
        Object actual = readAsOperator(uri).json().get(field);
        if (!value.equals(actual)) {
            problems.add(uri + ": " + field + " is " + actual + ", expected " + value);
        }
    }

    // ---------------------------------------------------------------- report

    private void writeReport(List<Endpoint> endpoints, List<Cell> cells, List<String> problems) throws IOException {
        List<String> names = new ArrayList<>(PRINCIPALS.keySet());
        StringBuilder out = new StringBuilder();
        Map<Surface, Long> bySurface = endpoints.stream()
                .collect(Collectors.groupingBy(Endpoint::surface, Collectors.counting()));
        out.append("# Tenant-isolation matrix\n\n")
                .append("Generated by IsolationMatrixTest from the served OpenAPI document (")
                .append(bySurface.getOrDefault(Surface.API, 0L)).append(" operations and media types), the router's "
                        + "pages (").append(bySurface.getOrDefault(Surface.PAGE, 0L)).append(") and the actuator's "
                        + "operations (").append(bySurface.getOrDefault(Surface.ACTUATOR, 0L)).append("), called as ").append(names.size()).append(" principals against each tenant's objects: ")
                .append(cells.size()).append(" cells; ").append(cells.stream().filter(Cell::scanned).count())
                .append(" responses scanned for other tenants' identifiers, ")
                .append(cells.stream().filter(Cell::audited).count())
                .append(" state changes checked for their audit record; ").append(problems.size())
                .append(" problems.\n\n")
                .append("A cell reads `expected` (or `expected!actual` when they differ); `a:`/`g:` are acme's and "
                        + "globex's objects.\n\n| endpoint |");
        names.forEach(n -> out.append(' ').append(n).append(" |"));
        out.append("\n|---|").append("---|".repeat(names.size())).append('\n');
        for (Endpoint e : endpoints) {
            out.append("| `").append(e.key()).append("` |");
            for (String name : names) {
                String cell = cells.stream().filter(c -> c.endpoint() == e && c.principal().equals(name))
                        .map(c -> (c.target() == null ? "" : c.target().charAt(0) + ":") + c.expected()
                                + (c.actual() == c.expected() ? "" : "!" + c.actual()))
                        .collect(Collectors.joining(" "));
                out.append(' ').append(cell).append(" |");
            }
            out.append('\n');
        }
        if (!problems.isEmpty()) {
            out.append("\n## Problems\n\n");
            problems.forEach(p -> out.append("- ").append(p.replace("|", "\\|")).append('\n'));
        }
        Files.createDirectories(REPORT.getParent());
        Files.writeString(REPORT, out.toString());
    }

    private static String abbreviate(String s) {
        String flat = s.replace('\n', ' ');
        return flat.length() <= 300 ? flat : flat.substring(0, 300) + "...";
    }
}
