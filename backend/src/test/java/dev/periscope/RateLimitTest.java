package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Failed logins per client address and per user name, and token use per principal, are limited: 429 problems with
 * Retry-After. Each test calls from loopback addresses of its own (127.0.0.0/8), so that their counts stay apart.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.limits.login-failures=5", "periscope.limits.login-failures-per-user=8",
                "periscope.limits.login-failure-refill=1h", "periscope.limits.token-burst=3",
                "periscope.limits.token-per-second=1", "periscope.demo-data=false"})
@AutoConfigureWebTestClient
class RateLimitTest {

    static final Path VAR = ApiTest.newVarDir();

    @Autowired
    WebTestClient web;

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
    }

    @Test
    void tokenUseBeyondTheBurstAndThenFailedLoginsAre429WithRetryAfter() throws Exception {
        String operator = Files.readString(VAR.resolve("operator.token")).strip();
        for (int i = 0; i < 3; i++) {
            web.get().uri("/api/v1/tenants").header("Authorization", "Bearer " + operator).exchange()
                    .expectStatus().isOk();
        }
        web.get().uri("/api/v1/tenants").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isEqualTo(429).expectHeader().valueEquals("Retry-After", "1")
                .expectBody().jsonPath("$.detail").value(String.class, d -> assertThat(d).contains("'operator'"));

        for (int i = 0; i < 5; i++) {
            web.get().uri("/api/v1/vms").header("Authorization", "Bearer psc_wrong" + i).exchange()
                    .expectStatus().isUnauthorized();
        }
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer psc_wrong").exchange()
                .expectStatus().isEqualTo(429)
                .expectHeader().exists("Retry-After")
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").value(String.class, d -> assertThat(d).contains("too many failed logins"));
    }

    /** A guesser at the login form is stopped after 5 failures from its address, even when it finally guesses right. */
    @Test
    void formLoginsFromOneAddressStopAfterTheLimitEvenWithTheRightPassword() throws Exception {
        String password = Files.readString(VAR.resolve("operator.password")).strip();
        for (int i = 0; i < 5; i++) {
            assertThat(formLogin("127.0.0.2", "operator", "wrong-" + i, null).statusCode()).isEqualTo(302);
        }
        HttpResponse<String> blocked = formLogin("127.0.0.2", "operator", password, null);
        assertThat(blocked.statusCode()).isEqualTo(429);
        assertThat(blocked.headers().firstValue("Retry-After")).isPresent();
        assertThat(blocked.body()).contains("too many failed logins from this address");
        assertThat(formLogin("127.0.0.3", "operator", password, null).headers().firstValue("Location"))
                .as("another address logs in").hasValue("/");
    }

    /** X-Forwarded-For is not trusted: a client cannot name a new address for each guess. */
    @Test
    void forwardedForHeadersDoNotResetTheCount() throws Exception {
        for (int i = 0; i < 5; i++) {
            formLogin("127.0.0.4", "nobody", "wrong", "203.0.113." + i);
        }
        assertThat(formLogin("127.0.0.4", "nobody", "wrong", "203.0.113.99").statusCode()).isEqualTo(429);
    }

    /** A guesser spread over many addresses is stopped per user name (8 here); other names are not. */
    @Test
    void failuresForOneUserFromManyAddressesStopThatUser() throws Exception {
        for (int i = 1; i <= 8; i++) {
            assertThat(formLogin("127.0.1." + i, "victim", "guess-" + i, null).statusCode()).isEqualTo(302);
        }
        HttpResponse<String> blocked = formLogin("127.0.1.9", "victim", "guess-9", null);
        assertThat(blocked.statusCode()).isEqualTo(429);
        assertThat(blocked.body()).contains("too many failed logins as this user");
        assertThat(formLogin("127.0.1.9", "someone-else", "guess", null).headers().firstValue("Location"))
                .as("a failed login of another name is an ordinary failure").hasValue("/login?error");
        // read from an address of its own (127.0.0.1 is blocked by the other tests), within the operator's token rate
        HttpClient reader = HttpClient.newBuilder().localAddress(InetAddress.getByName("127.0.2.1")).build();
        HttpRequest audit = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/api/v1/audit?action=LOGIN_FAILURE&limit=1000"))
                .header("Authorization", "Bearer " + Files.readString(VAR.resolve("operator.token")).strip()).build();
        HttpResponse<String> failures = reader.send(audit, HttpResponse.BodyHandlers.ofString());
        for (int i = 0; i < 5 && failures.statusCode() == 429; i++) {
            Thread.sleep(1000 * Long.parseLong(failures.headers().firstValue("Retry-After").orElse("1")));
            failures = reader.send(audit, HttpResponse.BodyHandlers.ofString());
        }
        assertThat(failures.body()).as("every failure is audited").contains("\"actor\":\"victim\"", "from 127.0.1.8");
    }

    /** A form login from {@code from} (a loopback address) as a browser makes it: the login page, then its form. */
    private HttpResponse<String> formLogin(String from, String user, String password, String forwardedFor)
            throws Exception {
        HttpClient client = HttpClient.newBuilder().localAddress(InetAddress.getByName(from)).build();
        URI loginPage = URI.create("http://127.0.0.1:" + port + "/login");
        HttpResponse<String> page = client.send(HttpRequest.newBuilder(loginPage).build(),
                HttpResponse.BodyHandlers.ofString());
        Matcher csrf = Pattern.compile("name=\"_csrf\" value=\"([^\"]+)\"").matcher(page.body());
        assertThat(csrf.find()).isTrue();
        String cookie = page.headers().allValues("set-cookie").stream().filter(c -> c.startsWith("SESSION="))
                .map(c -> c.substring(0, c.indexOf(';'))).findFirst().orElseThrow();
        var login = HttpRequest.newBuilder(loginPage).header("Cookie", cookie)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("username=" + enc(user) + "&password=" + enc(password)
                        + "&_csrf=" + enc(csrf.group(1))));
        if (forwardedFor != null) {
            login.header("X-Forwarded-For", forwardedFor).header("Forwarded", "for=" + forwardedFor);
        }
        return client.send(login.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String enc(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
