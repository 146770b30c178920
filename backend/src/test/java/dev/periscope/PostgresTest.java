package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.fleet.Agents;
import dev.periscope.syscall.SyscallArchive;
import dev.periscope.syscall.SyscallArchive.SyscallRecord;
import dev.periscope.vm.FleetSliceConfiguration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.ActiveProfiles;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
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
    SyscallArchive archive;

    @Autowired
    WebTestClient web;

    static final FakeAgent AGENT = new FakeAgent("h1");

    @Autowired
    Agents agents;

    @AfterAll
    static void stopAgent() {
        AGENT.close();
    }

    @DynamicPropertySource
    static void database(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        FleetSliceConfiguration.register(registry, AGENT);
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
        ApiTest.tenantVms(AGENT);
        FleetSliceConfiguration.awaitListed(agents, AGENT);
        String operator = Files.readString(VAR.resolve("operator.token")).strip();

        web.get().uri("/api/v1/tenants").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[*].id").value(List.class,
                        ids -> assertThat(ids).contains("acme", "globex"));
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator)
                .header("Idempotency-Key", "pg-1").contentType(MediaType.APPLICATION_JSON)
                // a process-list session: the fake agent runs it with its canned lists
                .bodyValue(Map.of("vm", "acme-1", "kind", "PROCESS_LIST", "intervalSeconds", 3600,
                        "maxDurationSeconds", 60))
                .exchange().expectStatus().isCreated().expectBody(ApiTest.MAP).returnResult().getResponseBody().get("id");
        web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ENDED");
        web.get().uri("/api/v1/audit?action=SESSION_STOPPED").header("Authorization", "Bearer " + operator).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[0].target").isEqualTo(id);
    }

    @Test
    void theArchiveAppendsBatchesOnPostgres() {
        Instant t0 = Instant.parse("2026-12-07T00:00:00Z");
        List<SyscallRecord> batch = IntStream.range(0, 600).mapToObj(i -> new SyscallRecord(t0.plusMillis(i), "acme",
                "vm-1@h", "s-pg", i % 2, 300 + i, 0x1000L * i, i % 450, i, -1, Long.MAX_VALUE, Long.MIN_VALUE, 5, 6,
                i % 2 == 0 ? "RETURNED" : "UNFINISHED", i % 2 == 0 ? (long) -i : null, i % 4 == 0 ? "EBADF" : null,
                i % 2 == 0 ? 100L + i : null, "close(" + i + ")"))
                .toList();
        archive.append(batch).block();
        assertThat(archive.recent("s-pg", 1000).collectList().block().reversed()).isEqualTo(batch);
    }
}
