package dev.periscope.system;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The actuator as ./periscope up runs it (one port): the health groups answer without credentials and readiness is
 * made of the database and the engines; Prometheus needs an operator's credentials there. (With a port of its own,
 * as compose and Helm run it, deploy's ComposeStackTest checks it from outside.)
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = "management.endpoint.health.group.readiness.show-components=always")
@AutoConfigureWebTestClient
class ObservabilityTest {

    static final Path VAR = varDir();

    @Autowired
    WebTestClient web;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
    }

    @Test
    void healthGroupsAnswerWithoutCredentialsAndReadinessIsTheDatabaseAndTheEngines() {
        web.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.status").isEqualTo("UP");
        web.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk()
                .expectBody()
                .jsonPath("$.status").isEqualTo("UP")
                .jsonPath("$.components.database.status").isEqualTo("UP")
                .jsonPath("$.components.agents.status").isEqualTo("UP")
                .jsonPath("$.components.readinessState.status").isEqualTo("UP")
                .jsonPath("$.components.r2dbc").doesNotExist();
    }

    @Test
    void prometheusOnTheApisPortNeedsAnOperator() throws IOException {
        web.get().uri("/actuator/prometheus").exchange().expectStatus().is3xxRedirection();
        web.get().uri("/api/v1/tenants").header("Authorization", "Bearer " + operatorToken()).exchange()
                .expectStatus().isOk();
        String metrics = web.get().uri("/actuator/prometheus").header("Authorization", "Bearer " + operatorToken())
                .exchange().expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(metrics).contains("application=\"periscope\"")
                .containsPattern("http_server_requests_seconds_bucket\\{[^}]*uri=\"/api/v1/tenants\"");
    }

    private static String operatorToken() throws IOException {
        return Files.readString(VAR.resolve("operator.token")).strip();
    }

    private static Path varDir() {
        try {
            return Files.createTempDirectory("periscope-observability-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
