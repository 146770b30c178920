package dev.periscope.vm;

import dev.periscope.agent.api.Capability;
import dev.periscope.fleet.Agents;
import dev.periscope.agent.FakeAgent;
import dev.periscope.system.WebSliceConfiguration;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.webflux.test.autoconfigure.WebFluxTest;
import org.springframework.context.annotation.Import;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

@WebFluxTest(VmController.class)
@Import({FleetSliceConfiguration.class, WebSliceConfiguration.class})
class VmControllerTest {

    static final Path VAR = WebSliceConfiguration.newVarDir();
    static final FakeAgent AGENT = new FakeAgent("h1");

    @Autowired
    WebTestClient web;

    @Autowired
    Agents agents;

    String token;

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
    void fleet() throws IOException {
        token = WebSliceConfiguration.operatorToken(VAR);
        AGENT.vms(FakeAgent.vm("old-1", "acme", false, 256),
                FakeAgent.vm("acme-1", "acme", true, 512, Capability.READ_MEMORY, Capability.COW_SNAPSHOT));
        FleetSliceConfiguration.awaitListed(agents, AGENT);
    }

    @Test
    void listsVmsSortedByNameWithTheirHostAndCapabilitiesOfRunningOnes() {
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$[0].id").isEqualTo("acme-1@h1")
                .jsonPath("$[0].name").isEqualTo("acme-1")
                .jsonPath("$[0].host").isEqualTo("h1")
                .jsonPath("$[0].state").isEqualTo("RUNNING")
                .jsonPath("$[0].memoryMib").isEqualTo(512)
                .jsonPath("$[0].capabilities.length()").isEqualTo(2)
                .jsonPath("$[1].name").isEqualTo("old-1")
                .jsonPath("$[1].running").isEqualTo(false)
                .jsonPath("$[1].state").isEqualTo("STOPPED")
                .jsonPath("$[1].capabilities.length()").isEqualTo(0);
    }

    @Test
    void unknownVmIsProblemDetail404() {
        web.get().uri("/api/v1/vms/nope").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isNotFound()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").isEqualTo("no VM named 'nope'");
    }

    @Test
    void operatorsAssignOwnersByFleetId() {
        web.put().uri("/api/v1/vms/acme-1/owner").header("Authorization", "Bearer " + token)
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"tenant\":\"globex\"}").exchange()
                .expectStatus().isEqualTo(422)
                .expectBody().jsonPath("$.detail").isEqualTo("no tenant 'globex'");
        web.delete().uri("/api/v1/vms/acme-1@h1/owner").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.tenant").isEqualTo("acme");
    }

    @Test
    void apiWithoutOrWithWrongTokenIs401() {
        web.get().uri("/api/v1/vms").exchange().expectStatus().isUnauthorized();
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + token + "x").exchange()
                .expectStatus().isUnauthorized();
    }

    @Test
    void pagesRedirectToLoginWhenNotLoggedIn() {
        web.get().uri("/").exchange()
                .expectStatus().is3xxRedirection()
                .expectHeader().location("/login");
    }
}
