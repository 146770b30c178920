package dev.periscope.process;

import static org.mockito.BDDMockito.given;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.ArgumentMatchers.any;

import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.Visibility;
import dev.periscope.vmi.linux.ProcessList;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
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

@WebFluxTest(ProcessController.class)
@Import({FleetSliceConfiguration.class, ProcessReader.class, WebSliceConfiguration.class})
class ProcessControllerTest {

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
    void vm() throws IOException {
        token = WebSliceConfiguration.operatorToken(VAR);
        given(engine.domain("acme-1")).willReturn(Optional.of(new DomainInfo("acme-1", "acme", "qemu-lab", true,
                512L << 20, "6.1.0-56-amd64", "paper", Instant.now())));
        given(engine.domain("nope")).willReturn(Optional.empty());
    }

    @Test
    void processListCarriesHowItWasTaken() {
        GuestProcess init = new GuestProcess(1, 0, "init", "init", List.of("/sbin/init", "splash"), 0, 0, "S",
                1_000L, 0x1234000L, false, List.of(1), 0xffff888000000000L, Visibility.LISTED, List.of());
        GuestProcess rcu = new GuestProcess(12, 2, "rcu_tasks_kthread", "rcu_tasks_kthre", List.of(), 0, 0, "I",
                2_000L, 0, true, List.of(12), 0xffff888000001000L, Visibility.HIDDEN, List.of());
        given(engine.processes("acme-1", AcquisitionMode.PAUSE)).willReturn(new ProcessList("acme-1", "6.1.0-56-amd64",
                AcquisitionMode.PAUSE, true, Instant.parse("2026-11-22T00:00:00Z"), Duration.ofMillis(3),
                Duration.ZERO, Duration.ofMillis(2), List.of(init, rcu), List.of("argv of pid 9 unreadable")));

        web.get().uri("/api/v1/vms/acme-1/processes?mode=pause").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.mode").isEqualTo("pause")
                .jsonPath("$.consistent").isEqualTo(true)
                .jsonPath("$.guestDowntimeMicros").isEqualTo(3000)
                .jsonPath("$.processes[0].cmdline").isEqualTo("/sbin/init splash")
                .jsonPath("$.processes[0].cr3").isEqualTo(0x1234000)
                .jsonPath("$.processes[1].cmdline").isEqualTo("[rcu_tasks_kthread]")
                .jsonPath("$.processes[1].name").isEqualTo("rcu_tasks_kthread")
                .jsonPath("$.processes[1].comm").isEqualTo("rcu_tasks_kthre")
                .jsonPath("$.processes[1].visibility").isEqualTo("HIDDEN")
                .jsonPath("$.processes[1].kernelThread").isEqualTo(true)
                .jsonPath("$.warnings[0]").isEqualTo("argv of pid 9 unreadable");
    }

    @Test
    void unknownModeIs400AndNeverReachesTheEngine() {
        web.get().uri("/api/v1/vms/acme-1/processes?mode=fast").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isBadRequest()
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").isEqualTo("mode must be one of [snapshot, pause, live], not 'fast'");
        verify(engine, never()).processes(any(), any());
    }

    @Test
    void unknownVmIs404() {
        web.get().uri("/api/v1/vms/nope/processes").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isNotFound();
        verify(engine, never()).processes(any(), any());
    }

    @Test
    void vmThatStoppedIs409AndGarbageMemoryIs422() {
        given(engine.processes("acme-1", AcquisitionMode.SNAPSHOT)).willThrow(new VmGoneException("acme-1 stopped"));
        web.get().uri("/api/v1/vms/acme-1/processes").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isEqualTo(409)
                .expectBody().jsonPath("$.title").isEqualTo("VM not running")
                .jsonPath("$.detail").isEqualTo("acme-1 stopped");

        given(engine.processes("acme-1", AcquisitionMode.LIVE)).willThrow(new GuestDataException("no kernel banner"));
        web.get().uri("/api/v1/vms/acme-1/processes?mode=live").header("Authorization", "Bearer " + token).exchange()
                .expectStatus().isEqualTo(422)
                .expectBody().jsonPath("$.detail").isEqualTo("no kernel banner");
    }
}
