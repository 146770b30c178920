package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.fleet.Agents;
import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Sessions through faults around them. A trace whose agent becomes unreachable ends {@code LOST} ({@code AGENT_LOST})
 * at once, and what it left armed in the VM's hypervisor extension is switched off once the agent answers again: the
 * control plane asks that agent to disarm the VM, and only then. A stop the database cannot record (here a constraint
 * that refuses the session's STOPPING state, as a full disk refused every write in the fault suite's disk-full runs)
 * still ends the trace on its agent: the caller gets the database's error, and the session ends STOPPED once its
 * runner sees the agent's end, instead of tracing on.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.fleet.unreachable-after=2s"})
@AutoConfigureWebTestClient(timeout = "PT30S")
class SessionFaultsTest {

    static final Path VAR = ApiTest.newVarDir();
    static final FakeAgent AGENT = new FakeAgent("h1");

    @Autowired
    WebTestClient web;

    @Autowired
    Agents agents;

    @Autowired
    DatabaseClient db;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        FleetSliceConfiguration.register(registry, AGENT);
    }

    @AfterAll
    static void stopAgent() {
        AGENT.close();
    }

    @Test
    void aTraceLostWithItsAgentIsDisarmedOnceTheAgentAnswersAgain() throws Exception {
        String id = activeTrace();

        AGENT.silent(true);
        await("the trace is lost with its agent", () -> "LOST".equals(session(id).get("state")));
        assertThat(session(id).get("end")).isEqualTo("AGENT_LOST");
        assertThat(AGENT.disarms()).as("nothing is asked of an agent that does not answer").isEmpty();

        AGENT.silent(false);
        await("the VM is disarmed once its agent answers", () -> AGENT.disarms().contains("acme-1"));
        assertThat(AGENT.disarms()).containsExactly("acme-1");
    }

    @Test
    void aStopTheDatabaseCannotRecordStillEndsTheTraceOnItsAgent() throws Exception {
        String id = activeTrace();

        db.sql("ALTER TABLE vmi_session ADD CONSTRAINT refuse_stopping CHECK (state <> 'STOPPING')").then().block();
        try {
            web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + operator())
                    .exchange().expectStatus().is5xxServerError();
            await("the trace ended on its agent and the session with it",
                    () -> "ENDED".equals(session(id).get("state")));
            assertThat(session(id).get("end")).isEqualTo("STOPPED");
        } finally {
            db.sql("ALTER TABLE vmi_session DROP CONSTRAINT refuse_stopping").then().block();
        }
    }

    /** A trace of process 300 ("sh") of the fake agent's synthetic guest on acme-1, once it is active. */
    private String activeTrace() throws InterruptedException {
        AGENT.vms(FakeAgent.vm("acme-1", "acme", true, 512));
        FleetSliceConfiguration.awaitListed(agents, AGENT);
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "TRACE", "targetPid", 300, "method", "M5",
                        "maxDurationSeconds", 3600))
                .exchange().expectStatus().isCreated().expectBody(ApiTest.MAP).returnResult().getResponseBody()
                .get("id");
        await("the trace is active", () -> "ACTIVE".equals(session(id).get("state")));
        return id;
    }

    private Map<String, Object> session(String id) {
        return web.get().uri("/api/v1/sessions/" + id).header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(ApiTest.MAP).returnResult().getResponseBody();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as(what + " within 30 s").isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    /** The operator's token, unchecked: {@link #session} is called from {@link #await}'s condition. */
    private static String operator() {
        try {
            return WebSliceConfiguration.operatorToken(VAR);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
