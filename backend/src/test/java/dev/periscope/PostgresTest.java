package dev.periscope;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyString;
import static org.mockito.BDDMockito.given;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.ActiveProfiles;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.bean.override.mockito.MockitoBean;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.postgresql.PostgreSQLContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The same schema and queries on a real PostgreSQL 15 (profile {@code postgres}): Flyway migrates it, demo data,
 * sessions and audit go through R2DBC. The image is built locally by {@code deploy/images/build.sh}
 * (no registry is reachable); without docker the test is skipped.
 */
@Testcontainers(disabledWithoutDocker = true)
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient(timeout = "PT30S")
@ActiveProfiles("postgres")
class PostgresTest {

    @Container
    static final PostgreSQLContainer POSTGRES = new PostgreSQLContainer(
            DockerImageName.parse("periscope/postgres:15").asCompatibleSubstituteFor("postgres"));

    static final Path VAR = ApiTest.newVarDir();

    @Autowired
    WebTestClient web;

    @MockitoBean
    VmiEngine engine;

    @DynamicPropertySource
    static void database(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        String hostPort = POSTGRES.getHost() + ":" + POSTGRES.getMappedPort(5432) + "/" + POSTGRES.getDatabaseName();
        registry.add("spring.r2dbc.url", () -> "r2dbc:postgresql://" + hostPort);
        registry.add("spring.r2dbc.username", POSTGRES::getUsername);
        registry.add("spring.r2dbc.password", POSTGRES::getPassword);
        registry.add("spring.flyway.url", POSTGRES::getJdbcUrl);
        registry.add("spring.flyway.user", POSTGRES::getUsername);
        registry.add("spring.flyway.password", POSTGRES::getPassword);
    }

    @Test
    void schemaMigratesAndTheApiWorksOnPostgres() throws Exception {
        DomainInfo acme = new DomainInfo("acme-1", "acme", "qemu-lab", true, 512L << 20, "6.1.0", "busy", Instant.now());
        given(engine.domains()).willReturn(List.of(acme));
        given(engine.domain(anyString())).willReturn(Optional.empty());
        given(engine.domain("acme-1")).willReturn(Optional.of(acme));
        given(engine.capabilities(anyString())).willReturn(Set.of());
        given(engine.processes(anyString(), any())).willAnswer(call -> ApiTest.list(call.getArgument(0), call.getArgument(1)));
        String operator = Files.readString(VAR.resolve("operator.token")).strip();

        web.get().uri("/api/v1/tenants").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[*].id").value(List.class,
                        ids -> org.assertj.core.api.Assertions.assertThat(ids).contains("acme", "globex"));
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator)
                .header("Idempotency-Key", "pg-1").contentType(MediaType.APPLICATION_JSON)
                // A process-list session: the engine here is a mock, and a trace would fail at once on it.
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "intervalSeconds", 3600,
                        "maxDurationSeconds", 60))
                .exchange().expectStatus().isCreated().expectBody(ApiTest.MAP).returnResult().getResponseBody().get("id");
        web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ENDED");
        web.get().uri("/api/v1/audit?action=SESSION_STOPPED").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[0].target").isEqualTo(id);
    }
}
