package dev.periscope.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.browser.Browser;
import dev.periscope.security.ApiSurface.Endpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.core.io.Resource;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;
import org.springframework.web.reactive.result.method.annotation.RequestMappingHandlerMapping;

/**
 * What protects the browser: CSRF tokens on every state-changing request a cookie session makes (every unsafe
 * operation of the OpenAPI document, login and logout) and in every form of every page; the security headers; a new
 * session id at login and none left valid at logout; templates and scripts with nothing a content security policy
 * without inline script would block; and every page in headless Chromium under that policy with no violation, which
 * the browser does report for an injected inline script.
 */
class BrowserSecurityTest extends TwoTenantServer {

    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            + "frame-ancestors 'none'";
    private static final Pattern FORM = Pattern.compile("<form\\b([^>]*)>(.*?)</form>", Pattern.DOTALL);

    @Autowired
    @Qualifier("requestMappingHandlerMapping")
    RequestMappingHandlerMapping mappings;

    // ---------------------------------------------------------------- CSRF

    @Test
    void everyUnsafeRequestOfACookieSessionNeedsItsCsrfToken() {
        BrowserSession operator = login("operator", read("operator.password"));
        List<Endpoint> unsafe = ApiSurface.operations(http().get("/v3/api-docs").send().json()).stream()
                .filter(e -> !e.safe()).toList();
        assertThat(unsafe).hasSizeGreaterThan(10);
        long auditBefore = newestAuditId(audit(1));
        List<String> problems = new ArrayList<>();
        for (Endpoint e : unsafe) {
            // Objects that do not exist: with a valid token the call gets as far as a 400 or 404 and changes nothing.
            String path = e.fill(v -> v[1].equals("vm") ? "no-such-vm" : "no-such-" + v[0]);
            Map<String, Object> body = Map.of();
            Map<String, Http.Response> tries = new LinkedHashMap<>();
            tries.put("no token", http().call(e.method(), path).cookie(operator.cookie()).json(body).send());
            tries.put("a wrong token", http().call(e.method(), path).cookie(operator.cookie())
                    .header("X-CSRF-TOKEN", "not-the-token").json(body).send());
            tries.put("a Basic Authorization header", http().call(e.method(), path).cookie(operator.cookie())
                    .header("Authorization", "Basic b3BlcmF0b3I6eA==").json(body).send());
            tries.forEach((how, r) -> {
                if (r.status() != 403 || !r.body().contains("CSRF")) {
                    problems.add(e.operation() + " with " + how + ": " + r.status() + " " + r.body());
                }
            });
            Http.Response withToken = http().call(e.method(), path).cookie(operator.cookie())
                    .header("X-CSRF-TOKEN", operator.csrf()).json(body).send();
            if (withToken.status() == 403 || withToken.status() / 100 == 2) {
                problems.add(e.operation() + " with the token: " + withToken.status() + " " + withToken.body()
                        + " (expected the call to pass CSRF and fail on its missing object or body)");
            }
        }
        assertThat(problems).isEmpty();
        assertThat(audit(50).stream().filter(r -> ((Number) r.get("id")).longValue() > auditBefore)
                .map(r -> r.get("action")).toList()).as("nothing changed").isEmpty();
    }

    @Test
    void loginAndLogoutNeedTheCsrfTokenToo() {
        Http.Response page = http().get("/login").send();
        String session = page.cookie("SESSION").orElseThrow();
        String form = "username=acme-user&password=" + encode(demoPassword("acme-user"));
        Http.Response noToken = http().post("/login").cookie(session).form(form).send();
        assertThat(noToken.status()).isEqualTo(403);
        assertThat(noToken.cookie("SESSION")).as("no login happened").isEmpty();

        BrowserSession acme = login("acme-user", demoPassword("acme-user"));
        assertThat(http().post("/logout").cookie(acme.cookie()).form("").send().status()).isEqualTo(403);
        assertThat(http().get("/").cookie(acme.cookie()).send().status()).as("still logged in").isEqualTo(200);
    }

    @Test
    void everyFormOfEveryPageCarriesTheSessionsCsrfToken() {
        String session = openSession("acme");
        for (String user : List.of("operator", "acme-admin", "acme-user")) {
            String password = user.equals("operator") ? read("operator.password") : demoPassword(user);
            BrowserSession browser = login(user, password);
            int forms = 0;
            for (Endpoint page : ApiSurface.pages(mappings.getHandlerMethods())) {
                String path = page.fill(v -> v[1].equals("vm") ? "acme-1" : session);
                Http.Response r = http().get(path).cookie(browser.cookie()).send();
                if (r.status() != 200) {
                    assertThat(r.status()).as(path + " as " + user).isEqualTo(403); // /tenants for tenant users
                    continue;
                }
                Matcher form = FORM.matcher(r.body());
                while (form.find()) {
                    forms++;
                    String attributes = form.group(1);
                    boolean post = attributes.matches("(?is).*method=\"post\".*");
                    // Tokens are masked afresh in every page (BREACH), so their presence is what a page can show;
                    // that a page's token is accepted is what logins and token creation here rely on.
                    if (post) {
                        assertThat(form.group(2)).as("a POST form of %s as %s", path, user)
                                .containsPattern("<input type=\"hidden\" name=\"_csrf\" value=\"[A-Za-z0-9_-]{20,}\"");
                    } else if (!attributes.matches("(?is).*method=\"get\".*")) {
                        // forms that scripts submit (data-api, the trace dialog, the new-tenant form) send the
                        // token from the page's meta tag
                        assertThat(r.body()).as("the CSRF meta tag of %s as %s", path, user)
                                .containsPattern("<meta name=\"csrf-token\" content=\"[A-Za-z0-9_-]{20,}\">");
                    }
                }
            }
            assertThat(forms).as("forms seen as " + user).isGreaterThan(3);
        }
    }

    // ---------------------------------------------------------------- headers, cookies, session fixation

    @Test
    void everyKindOfResponseCarriesTheSecurityHeaders() {
        BrowserSession acme = login("acme-admin", demoPassword("acme-admin"));
        Map<String, Http.Response> responses = new LinkedHashMap<>();
        responses.put("the login page", http().get("/login").send());
        responses.put("a page", http().get("/").cookie(acme.cookie()).send());
        responses.put("an error page", http().get("/vms/no-such-vm").cookie(acme.cookie()).send());
        responses.put("an API response", http().get("/api/v1/vms").bearer(operatorToken()).send());
        responses.put("a refused API call", http().get("/api/v1/vms").send());
        responses.put("a script", http().get("/js/periscope.js").send());
        responses.put("the OpenAPI document", http().get("/v3/api-docs").send());
        responses.forEach((what, r) -> {
            assertThat(r.header("Content-Security-Policy")).as(what).contains(CSP);
            assertThat(r.header("X-Frame-Options")).as(what).contains("DENY");
            assertThat(r.header("X-Content-Type-Options")).as(what).contains("nosniff");
            assertThat(r.header("Referrer-Policy")).as(what).contains("no-referrer");
            assertThat(r.header("Permissions-Policy")).as(what).hasValueSatisfying(p -> assertThat(p)
                    .contains("camera=()", "microphone=()", "geolocation=()"));
            assertThat(r.header("Cross-Origin-Opener-Policy")).as(what).contains("same-origin");
            assertThat(r.header("Strict-Transport-Security")).as(what + ": HSTS only over TLS").isEmpty();
        });
        assertThat(responses.get("an error page").status()).isEqualTo(404);
        String cookie = responses.get("the login page").all("set-cookie").stream()
                .filter(c -> c.startsWith("SESSION=")).findFirst().orElseThrow();
        assertThat(cookie).containsIgnoringCase("HttpOnly").containsIgnoringCase("SameSite=Lax")
                .doesNotContainIgnoringCase("Secure");
    }

    @Test
    void loginGivesANewSessionIdAndLogoutLeavesNoneValid() {
        Http.Response page = http().get("/login").send();
        String before = page.cookie("SESSION").orElseThrow();
        SECRETS.add("session cookie", before);
        Http.Response done = http().post("/login").cookie(before).form("username=globex-user&password="
                + encode(demoPassword("globex-user")) + "&_csrf=" + encode(csrfIn(page.body()))).send();
        assertThat(done.status()).isEqualTo(302);
        String after = done.cookie("SESSION").orElseThrow();
        SECRETS.add("session cookie", after);
        assertThat(after).as("the session id changes at login").isNotEqualTo(before);
        assertThat(http().get("/").cookie(before).send().header("Location")).as("the old id logs nobody in")
                .contains("/login");
        assertThat(http().get("/").cookie(after).send().status()).isEqualTo(200);

        long auditBefore = newestAuditId(audit(1));
        String csrf = csrfOfPage(after, "/");
        Http.Response out = http().post("/logout").cookie(after).form("_csrf=" + encode(csrf)).send();
        assertThat(out.status()).isEqualTo(302);
        assertThat(out.header("Location")).contains("/login?logout");
        assertThat(http().get("/").cookie(after).send().header("Location")).as("logged out").contains("/login");
        assertThat(audit(20)).filteredOn(r -> ((Number) r.get("id")).longValue() > auditBefore)
                .anySatisfy(r -> assertThat(r).containsEntry("action", "LOGOUT").containsEntry("actor", "globex-user")
                        .containsEntry("tenant", "globex"));
    }

    // ---------------------------------------------------------------- content security policy

    /** Every template and script, read as shipped: nothing an inline-free policy would block. */
    @Test
    void templatesAndScriptsHaveNoInlineScriptStyleOrEvaluatedCode() throws IOException {
        var resolver = new PathMatchingResourcePatternResolver();
        Map<String, Pattern> forbiddenInTemplates = new LinkedHashMap<>();
        forbiddenInTemplates.put("an inline <script>", Pattern.compile("<script\\b(?![^>]*\\bsrc=)[^>]*>"));
        forbiddenInTemplates.put("an event handler attribute",
                Pattern.compile("\\s(th:)?on[a-z]+\\s*=\\s*[\"']", Pattern.CASE_INSENSITIVE));
        forbiddenInTemplates.put("a style attribute", Pattern.compile("\\s(th:)?style\\s*=", Pattern.CASE_INSENSITIVE));
        forbiddenInTemplates.put("a <style> element", Pattern.compile("<style\\b", Pattern.CASE_INSENSITIVE));
        forbiddenInTemplates.put("a javascript: URL", Pattern.compile("javascript:", Pattern.CASE_INSENSITIVE));
        forbiddenInTemplates.put("htmx code (hx-on, a trigger filter, js: values)",
                Pattern.compile("hx-on|hx-trigger=\"[^\"]*\\[|hx-vals=\"js:|hx-vars"));
        Map<String, Pattern> forbiddenInScripts = Map.of("evaluated code",
                Pattern.compile("\\beval\\s*\\(|new\\s+Function\\s*\\(|set(Timeout|Interval)\\s*\\(\\s*[\"'`]"));
        List<String> found = new ArrayList<>();
        int templates = scan(resolver.getResources("classpath*:templates/**/*.html"), forbiddenInTemplates, found);
        int scripts = scan(resolver.getResources("classpath*:static/js/**/*.js"), forbiddenInScripts, found);
        assertThat(templates).isGreaterThan(10);
        assertThat(scripts).isGreaterThan(2);
        assertThat(found).isEmpty();
    }

    private static int scan(Resource[] files, Map<String, Pattern> forbidden, List<String> found) throws IOException {
        for (Resource file : files) {
            String text = file.getContentAsString(StandardCharsets.UTF_8);
            forbidden.forEach((what, pattern) -> {
                Matcher m = pattern.matcher(text);
                if (m.find()) {
                    found.add(file.getFilename() + ": " + what + " at '" + text.substring(m.start(),
                            Math.min(text.length(), m.end() + 40)).replace('\n', ' ') + "'");
                }
            });
        }
        return files.length;
    }

    @Test
    void everyPageRunsInChromiumWithoutAPolicyViolation() throws IOException {
        String session = openSession("acme");
        writeExperimentResult();
        try (Browser browser = Browser.open("http://localhost:" + port)) {
            browser.logIn("operator", read("operator.password"));
            List<String> violations = new ArrayList<>();
            for (Endpoint page : ApiSurface.pages(mappings.getHandlerMethods())) {
                String path = page.fill(v -> v[1].equals("vm") ? "acme-1" : session);
                if (!http().get(path).bearer(operatorToken()).send().body().startsWith("<!DOCTYPE html>")) {
                    continue; // a fragment that a page loads into itself (the process table), not a document
                }
                browser.go(path);
                browser.waitUntil(path + " loads", 30,
                        () -> "complete".equals(browser.script("return document.readyState")));
                settle();
                violations.addAll(severe(browser, path));
            }
            browser.go("/swagger-ui/index.html");
            browser.waitFor(By.cssSelector(".swagger-ui .opblock"));
            violations.addAll(severe(browser, "/swagger-ui/index.html"));
            assertThat(violations).as("console errors (CSP violations among them)").isEmpty();

            // What the pages' scripts do still works: the experiment's bars are drawn, a token is created and shown.
            browser.go("/experiment");
            assertThat(browser.findAll(By.cssSelector("svg.bar rect")).stream().map(r -> r.getAttribute("width"))
                    .toList()).contains("100.0", "50.0");
            browser.go("/tokens");
            browser.find(By.cssSelector("form[data-api] input[name=name]")).sendKeys("from the browser");
            browser.find(By.cssSelector("form[data-api] button[type=submit]")).click();
            browser.waitUntil("the new token is shown", 20, () -> browser.find(By.cssSelector("#new-token code"))
                    .getText().startsWith("psc_"));
            SECRETS.add("api token", browser.find(By.cssSelector("#new-token code")).getText());
            browser.find(By.cssSelector("#new-token button[data-reload]")).click();
            browser.waitUntil("the page reloads with the token listed", 20,
                    () -> browser.pageText().contains("from the browser")
                            && browser.find(By.id("new-token")).getAttribute("hidden") != null);
            assertThat(severe(browser, "/tokens")).isEmpty();

            // The policy is in force: an inline script injected into a page does not run, and the browser says so.
            browser.script("const s = document.createElement('script'); s.textContent = 'window.injected = 1;';"
                    + " document.head.append(s);");
            assertThat(browser.script("return window.injected === undefined")).isEqualTo(true);
            assertThat(severe(browser, "/tokens")).anySatisfy(v -> assertThat(v).contains("Content Security Policy"));
        }
    }

    /** The requests table refreshes itself (a script, no evaluated hx-trigger filter) under the policy. */
    @Test
    void requestsTableRefreshesUnderThePolicy() {
        try (Browser browser = Browser.open("http://localhost:" + port)) {
            browser.logIn("globex-user", demoPassword("globex-user"));
            browser.go("/requests");
            browser.waitFor(By.id("requests-table"));
            Http.Response submitted = http().post("/api/v1/requests").bearer(principal("globex-user").token())
                    .json(Map.of("vm", "globex-1", "kind", "PROCESS_LIST", "minutes", 5, "reason", "refresh-probe"))
                    .send();
            assertThat(submitted.status()).isEqualTo(201);
            browser.waitUntil("the table shows the new request without a reload", 25,
                    () -> browser.find(By.id("requests-table")).getText().contains("refresh-probe"));
            assertThat(severe(browser, "/requests")).isEmpty();
        }
    }

    // ---------------------------------------------------------------- helpers

    private String openSession(String tenant) {
        Http.Response opened = asOperator("POST", "/api/v1/sessions")
                .json(Map.of("vm", tenant + "-1", "kind", "PROCESS_LIST", "intervalSeconds", 60)).send();
        assertThat(opened.status()).as(opened.body()).isEqualTo(201);
        return (String) opened.json().get("id");
    }

    /** A result of the overhead experiment, so that the experiment page draws its bars. */
    private static void writeExperimentResult() throws IOException {
        Path dir = VAR.resolve("bench").resolve("overhead");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("result.json"), """
                {"machine": "test", "runs": 1, "methods": [
                  {"method": "M1", "overheadPct": 0, "meanMs": 100},
                  {"method": "M2", "overheadPct": 200, "meanMs": 300},
                  {"method": "M3", "overheadPct": 100, "meanMs": 200},
                  {"method": "M4", "overheadPct": 10, "meanMs": 110},
                  {"method": "M5", "overheadPct": 2, "meanMs": 102}]}""");
    }

    /** The browser's console errors since the last call (CSP violations are errors). */
    private static List<String> severe(Browser browser, String path) {
        List<LogEntry> entries = browser.driver().manage().logs().get(LogType.BROWSER).getAll();
        return entries.stream().filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
                .map(e -> path + ": " + e.getMessage()).toList();
    }

    /** Lets a page's scripts run their first requests (fleet sparklines, process table) before its log is read. */
    private static void settle() {
        try {
            Thread.sleep(700);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
