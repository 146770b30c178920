package dev.periscope.vm;

import static org.mockito.BDDMockito.given;

import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.webflux.test.autoconfigure.WebFluxTest;
import org.springframework.context.annotation.Import;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.bean.override.mockito.MockitoBean;
import org.springframework.test.web.reactive.server.WebTestClient;

@WebFluxTest(VmController.class)
@Import({FleetSliceConfiguration.class, WebSliceConfiguration.class})
class VmControllerTest {

    static final Path VAR = WebSliceConfiguration.newVarDir();

    @Autowired
    WebTestClient web;

    @MockitoBean
    VmiEngine engine;

    String token;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
    }

    @BeforeEach
    void fleet() throws IOException {
        token = WebSliceConfiguration.operatorToken(VAR);
        DomainInfo acme = new DomainInfo("acme-1", "acme", "qemu-lab", true, 512L << 20, "6.1.0-56-amd64", "paper",
                Instant.parse("2026-11-22T00:00:00Z"));
        DomainInfo stopped = new DomainInfo("old-1", "acme", "qemu-lab", false, 256L << 20, "", "idle", null);
        given(engine.domains()).willReturn(List.of(stopped, acme));
        given(engine.domain("acme-1")).willReturn(Optional.of(acme));
        given(engine.domain("nope")).willReturn(Optional.empty());
        given(engine.capabilities("acme-1")).willReturn(Set.of(Capability.READ_MEMORY, Capability.COW_SNAPSHOT));
    }

    @Test
    void listsVmsSortedByNameWithCapabilitiesOfRunningOnes() {
        web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$[0].name").isEqualTo("acme-1")
                .jsonPath("$[0].memoryMib").isEqualTo(512)
                .jsonPath("$[0].capabilities.length()").isEqualTo(2)
                .jsonPath("$[1].name").isEqualTo("old-1")
                .jsonPath("$[1].running").isEqualTo(false)
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
