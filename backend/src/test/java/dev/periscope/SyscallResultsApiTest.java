package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.fleet.Agents;
import dev.periscope.syscall.SyscallArchive;
import dev.periscope.vm.FleetSliceConfiguration;
import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Syscall results from the agent to every encoding the control plane has: a trace session on the fake agent (the real
 * agent-side sessions and trace machinery over a synthetic guest) whose calls return, fail and stay unfinished; the
 * NDJSON and SSE streams, the session page and the archive must all carry the result, errno, duration and the
 * strace-like line; a trace opened by process name is titled by that name.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.limits.token-burst=100000", "periscope.archive.sweep=1h"})
@AutoConfigureWebTestClient(timeout = "PT30S")
class SyscallResultsApiTest {

    static final Path VAR = ApiTest.newVarDir();
    static final FakeAgent AGENT = new FakeAgent("h1");
    static final ParameterizedTypeReference<Map<String, Object>> MAP = new ParameterizedTypeReference<>() {
    };
    static final int READ = 0, OPENAT = 257;

    @Autowired
    WebTestClient web;

    @Autowired
    Agents agents;

    @Autowired
    SyscallArchive archive;

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
        AGENT.vms(FakeAgent.vm("acme-1", "acme", true, 512, Capability.READ_MEMORY, Capability.CR3_EVENTS,
                Capability.HYPERVISOR_CR3_FILTER, Capability.HYPERVISOR_BREAKPOINTS));
        FleetSliceConfiguration.awaitListed(agents, AGENT);
    }

    private String operator() throws IOException {
        return Files.readString(VAR.resolve("operator.token")).strip();
    }

    /** Opens a trace of process sh (pid 300 of the synthetic guest), makes it run calls, stops it; its id. */
    private String traceWithCalls() throws IOException {
        String id = (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", "acme-1", "kind", "TRACE", "method", "M5", "targetProcess", "sh",
                        "maxDurationSeconds", 60))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
        SyntheticTraceRig rig = AGENT.rig("acme-1");
        awaitState(id, "ACTIVE");
        rig.call(300, OPENAT, 3, -100, 0x7ffd0000L, 02000000, 0);
        rig.call(300, OPENAT, -2, -100, 0x7ffd0000L, 0, 0);
        rig.enter(300, READ, 0, 0x7ffd1000L, 1); // still reading when the session stops
        awaitEvents(id, 2);
        web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk();
        return id;
    }

    @Test
    void ndjsonSseThePageAndTheArchiveCarryResults() throws IOException {
        String id = traceWithCalls();

        List<Map<String, Object>> events = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + operator()).accept(MediaType.APPLICATION_NDJSON)
                .exchange().expectStatus().isOk()
                .returnResult(MAP).getResponseBody().collectList().block(Duration.ofSeconds(20));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> calls = events.stream().filter(e -> "syscall".equals(e.get("type")))
                .map(e -> (Map<String, Object>) e.get("data")).toList();
        assertThat(calls).hasSize(3);
        assertThat(calls.get(0)).containsEntry("status", "RETURNED").containsEntry("returnValue", 3)
                .containsEntry("result", "3");
        assertThat((String) calls.get(0).get("text"))
                .matches("300 openat\\(AT_FDCWD, 0x7ffd0000, O_RDONLY\\|O_CLOEXEC\\) = 3 <\\d+\\.\\d{6}>");
        assertThat(calls.get(1)).containsEntry("status", "RETURNED").containsEntry("returnValue", -2)
                .containsEntry("errno", "ENOENT").containsEntry("result", "-1 ENOENT (No such file or directory)");
        assertThat(((Number) calls.get(1).get("durationNs")).longValue()).isNotNegative();
        assertThat(calls.get(2)).containsEntry("status", "UNFINISHED").containsEntry("syscall", "read");
        assertThat(calls.get(2).get("returnValue")).isNull();
        assertThat((String) calls.get(2).get("text")).endsWith("read(0, 0x7ffd1000, 1) <unfinished ...>");

        List<ServerSentEvent<String>> sse = web.get().uri("/api/v1/sessions/" + id + "/events")
                .header("Authorization", "Bearer " + operator()).accept(MediaType.TEXT_EVENT_STREAM).exchange()
                .returnResult(new ParameterizedTypeReference<ServerSentEvent<String>>() {
                }).getResponseBody().collectList().block(Duration.ofSeconds(20));
        assertThat(sse.stream().filter(e -> "syscall".equals(e.event())).map(ServerSentEvent::data).toList())
                .anySatisfy(d -> assertThat(d).contains("\"errno\":\"ENOENT\"", "\"status\":\"RETURNED\""));

        String page = web.get().uri("/sessions/" + id).header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(page).contains("Trace of process sh").doesNotContain("pid null");

        List<SyscallArchive.SyscallRecord> archived = awaitArchived(id, 3);
        assertThat(archived).extracting(SyscallArchive.SyscallRecord::status)
                .containsExactlyInAnyOrder("RETURNED", "RETURNED", "UNFINISHED");
        assertThat(archived).filteredOn(r -> "ENOENT".equals(r.errno())).singleElement().satisfies(r -> {
            assertThat(r.returnValue()).isEqualTo(-2);
            assertThat(r.durationNs()).isNotNull().isNotNegative();
            assertThat(r.text()).contains("openat(AT_FDCWD", "= -1 ENOENT (No such file or directory)");
        });
        assertThat(archived).filteredOn(r -> "UNFINISHED".equals(r.status())).singleElement()
                .satisfies(r -> assertThat(r.returnValue()).isNull());
    }

    private void awaitState(String id, String state) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!state.equals(session(id).get("state"))) {
            assertThat(System.nanoTime()).as("session " + id + " " + state).isLessThan(deadline);
            sleep();
        }
    }

    private void awaitEvents(String id, int n) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (((Number) session(id).get("eventsDelivered")).intValue() < n) {
            assertThat(System.nanoTime()).as("events of " + id).isLessThan(deadline);
            sleep();
        }
    }

    private Map<String, Object> session(String id) throws IOException {
        return web.get().uri("/api/v1/sessions/" + id).header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(MAP).returnResult().getResponseBody();
    }

    private List<SyscallArchive.SyscallRecord> awaitArchived(String id, int n) {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            List<SyscallArchive.SyscallRecord> rows = archive.recent(id, 10).collectList().block();
            if (rows.size() >= n) {
                return rows;
            }
            assertThat(System.nanoTime()).as("archived rows of " + id).isLessThan(deadline);
            sleep();
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
