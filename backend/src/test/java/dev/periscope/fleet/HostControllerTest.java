package dev.periscope.fleet;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.webflux.test.autoconfigure.WebFluxTest;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/** {@code GET /api/v1/hosts}: what the control plane knows of each agent, for operators only. */
@WebFluxTest(HostController.class)
@Import({FleetSliceConfiguration.class, WebSliceConfiguration.class})
class HostControllerTest {

    static final Path VAR = WebSliceConfiguration.newVarDir();
    static final FakeAgent AGENT = new FakeAgent("h1");

    @Autowired
    WebTestClient web;

    @Autowired
    Agents agents;

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
        AGENT.vms(FakeAgent.vm("a-1", "acme", true, 512, Capability.READ_MEMORY), FakeAgent.vm("b-1", "acme", false, 256));
        FleetSliceConfiguration.awaitListed(agents, AGENT);
    }

    @Test
    void operatorsSeeEachAgentsStateVersionPlatformsAndVms() throws IOException {
        web.get().uri("/api/v1/hosts").header("Authorization", "Bearer " + WebSliceConfiguration.operatorToken(VAR))
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.length()").isEqualTo(1)
                .jsonPath("$[0].host").isEqualTo("h1")
                .jsonPath("$[0].address").isEqualTo(AGENT.address())
                .jsonPath("$[0].tenant").isEmpty() // an in-process agent serves every tenant
                .jsonPath("$[0].state").isEqualTo("CONNECTED")
                .jsonPath("$[0].agentVersion").isEqualTo("fake")
                .jsonPath("$[0].platforms[0]").isEqualTo("qemu-lab")
                .jsonPath("$[0].vms").isEqualTo(2)
                .jsonPath("$[0].lastSeen").exists();
    }
}
