package dev.periscope.process;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.Capability;
import dev.periscope.agent.api.Process;
import dev.periscope.agent.api.Visibility;
import dev.periscope.fleet.Agents;
import dev.periscope.agent.FakeAgent;
import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
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

@WebFluxTest(ProcessController.class)
@Import({FleetSliceConfiguration.class, ProcessReader.class, WebSliceConfiguration.class})
class ProcessControllerTest {

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
    void vm() throws IOException {
        token = WebSliceConfiguration.operatorToken(VAR);
        AGENT.vms(FakeAgent.vm("acme-1", "acme", true, 512, Capability.READ_MEMORY, Capability.PAUSE_RESUME));
        FleetSliceConfiguration.awaitListed(agents, AGENT);
    }

    @Test
    void processListCarriesHowItWasTakenAndNamesTheVmByHost() {
        AGENT.answer("acme-1", AcquisitionMode.PAUSE, List.of(FakeAgent.process(1, 0, "init", false, "/sbin/init",
                "splash"), oldAgent(FakeAgent.process(2, 0, "kthreadd", true)), FakeAgent.process(12, 2,
                "rcu_tasks_kthread", true).toBuilder().setVisibility(Visibility.HIDDEN).build()),
                List.of("argv of pid 9 unreadable"));

        web.get().uri("/api/v1/vms/acme-1/processes?mode=pause").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.vm").isEqualTo("acme-1@h1")
                .jsonPath("$.mode").isEqualTo("pause")
                .jsonPath("$.consistent").isEqualTo(true)
                .jsonPath("$.guestDowntimeMicros").isEqualTo(3000)
                .jsonPath("$.processes[0].cmdline").isEqualTo("/sbin/init splash")
                .jsonPath("$.processes[0].cr3").isEqualTo(0x1234000 + 0x2000)
                .jsonPath("$.processes[1].cmdline").isEqualTo("[kthreadd]")
                .jsonPath("$.processes[1].kernelThread").isEqualTo(true)
                .jsonPath("$.processes[1].comm").isEqualTo("kthreadd")
                .jsonPath("$.processes[1].visibility").isEqualTo("LISTED")
                .jsonPath("$.processes[2].cmdline").isEqualTo("[rcu_tasks_kthread]")
                .jsonPath("$.processes[2].name").isEqualTo("rcu_tasks_kthread")
                .jsonPath("$.processes[2].comm").isEqualTo("rcu_tasks_kthre")
                .jsonPath("$.processes[2].visibility").isEqualTo("HIDDEN")
                .jsonPath("$.warnings[0]").isEqualTo("argv of pid 9 unreadable");
        web.get().uri("/api/v1/vms/acme-1@h1/processes?mode=pause").header("Authorization", "Bearer " + token)
                .exchange().expectStatus().isOk();
        assertThat(AGENT.calls()).extracting(r -> r.getVm()).containsOnly("acme-1");
    }

    /** A process as an agent from before comm and visibility were sent has it: neither field set. */
    private static Process oldAgent(Process p) {
        return p.toBuilder().clearComm().clearVisibility().build();
    }

    @Test
    void withoutAModeTheMostConsistentModeThePlatformOffersIsUsed() {
        // acme-1's platform pauses but takes no copy-on-write snapshots (a Xen PV domU): pause, as the VM page does
        AGENT.answer("acme-1", AcquisitionMode.PAUSE, List.of(FakeAgent.process(1, 0, "init", false, "/sbin/init")),
                List.of());
        web.get().uri("/api/v1/vms/acme-1/processes").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.mode").isEqualTo("pause").jsonPath("$.consistent").isEqualTo(true);
        assertThat(AGENT.calls().getLast().getMode()).isEqualTo(AcquisitionMode.PAUSE);
    }

    @Test
    void unknownModeIs400AndNeverReachesTheAgent() {
        int before = AGENT.calls().size();
        web.get().uri("/api/v1/vms/acme-1/processes?mode=fast").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isBadRequest()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").isEqualTo("mode must be one of [snapshot, pause, live], not 'fast'");
        assertThat(AGENT.calls()).hasSize(before);
    }

    @Test
    void unknownVmOrHostIs404() {
        int before = AGENT.calls().size();
        web.get().uri("/api/v1/vms/nope/processes").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isNotFound();
        web.get().uri("/api/v1/vms/acme-1@h2/processes").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isNotFound();
        assertThat(AGENT.calls()).hasSize(before);
    }

    @Test
    void theAgentsFailuresKeepTheirMeaning() {
        AGENT.fail("acme-1", AcquisitionMode.SNAPSHOT, new VmGoneException("acme-1 stopped"));
        web.get().uri("/api/v1/vms/acme-1/processes?mode=snapshot").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isEqualTo(409)
                .expectBody().jsonPath("$.title").isEqualTo("VM not running")
                .jsonPath("$.detail").isEqualTo("acme-1 stopped");

        AGENT.fail("acme-1", AcquisitionMode.LIVE, new GuestDataException("no kernel banner"));
        web.get().uri("/api/v1/vms/acme-1/processes?mode=live").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isEqualTo(422)
                .expectBody().jsonPath("$.detail").isEqualTo("no kernel banner");

        AGENT.fail("acme-1", AcquisitionMode.PAUSE, new PageNotPresentException("task_struct unreadable", 0x1000));
        web.get().uri("/api/v1/vms/acme-1/processes?mode=pause").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isEqualTo(422)
                .expectBody().jsonPath("$.detail").isEqualTo("task_struct unreadable (address 0x1000)");
    }
}
