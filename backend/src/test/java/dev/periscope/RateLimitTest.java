package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/** Failed logins per client address, and token use per principal, are limited: 429 problems with Retry-After. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.limits.login-failures=5", "periscope.limits.login-failure-refill=1h",
                "periscope.limits.token-burst=3", "periscope.limits.token-per-second=1", "periscope.demo-data=false"})
@AutoConfigureWebTestClient
class RateLimitTest {

    static final Path VAR = ApiTest.newVarDir();

    @Autowired
    WebTestClient web;

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
}
