package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.TlsFiles;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.vmi.driver.lab.LabVm;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.Disposable;

/**
 * The fleet across real hosts: two agents, each a separate process in a network namespace of its own (its own address,
 * reached over a veth pair) serving its own lab VM, and one control plane that reaches them only over mutual TLS. Both
 * VMs are listed with their host, each process list equals that guest's own view, a trace from each streams through
 * the control plane, a caller whose certificate another CA signed is refused, killing one agent makes its VM
 * unreachable and its session lost within 10 s while the other host carries on, and a host cut off the network is
 * unreachable within 10 s and back when its link is. Needs root (namespaces) and the lab.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient(timeout = "PT60S")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FleetLabTest {

    static final ParameterizedTypeReference<Map<String, Object>> MAP = new ParameterizedTypeReference<>() {
    };
    static final ParameterizedTypeReference<List<Map<String, Object>>> LIST = new ParameterizedTypeReference<>() {
    };
    private static final Path ROOT = ApiTest.newVarDir();
    private static final Path PKI = ROOT.resolve("pki");
    private static AgentHost hostA;
    private static AgentHost hostB;

    @Autowired
    WebTestClient web;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", () -> ROOT.resolve("control-plane").toString());
        registry.add("periscope.fleet.embedded-agent.enabled", () -> "false");
        registry.add("periscope.xen-lab.enabled", () -> "false");
        registry.add("periscope.fleet.agents", () -> AgentHost.address(1) + "," + AgentHost.address(2));
        registry.add("periscope.fleet.tls.ca", () -> PKI.resolve("ca.pem").toString());
        registry.add("periscope.fleet.tls.certificate", () -> PKI.resolve("control-plane.pem").toString());
        registry.add("periscope.fleet.tls.private-key", () -> PKI.resolve("control-plane.key").toString());
    }

    @BeforeAll
    static void hosts() throws Exception {
        LabVm.assumeLabEnabled();
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "network namespaces need root");
        certs(PKI, "host-a", "host-b");
        certs(ROOT.resolve("rogue"), "host-a");
        hostA = AgentHost.start(1, "host-a", "fl-a-1", "acme", PKI);
        hostB = AgentHost.start(2, "host-b", "fl-b-1", "globex", PKI);
    }

    @AfterAll
    static void stopHosts() {
        for (AgentHost h : new AgentHost[] {hostA, hostB}) {
            if (h != null) {
                h.close();
            }
        }
    }

    static void certs(Path dir, String... agents) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("bash", LabVm.repo().resolve("agent/certs.sh").toString(),
                dir.toString()));
        for (String a : agents) {
            command.addAll(List.of("--agent", a));
        }
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    private String operator() throws IOException {
        return Files.readString(ROOT.resolve("control-plane/operator.token")).strip();
    }

    private static void await(String what, Duration limit, BooleanSupplier condition) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waited %s for: %s", limit, what).isLessThan(deadline);
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    private List<Map<String, Object>> vms() throws IOException {
        return web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(LIST).returnResult().getResponseBody();
    }

    private Map<String, Object> vm(String id) throws IOException {
        return vms().stream().filter(v -> id.equals(v.get("id"))).findFirst().orElse(Map.of());
    }

    private Map<String, Object> session(String id) throws IOException {
        return web.get().uri("/api/v1/sessions/" + id).header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(MAP).returnResult().getResponseBody();
    }

    @Test
    @Order(1)
    void bothHostsVmsAreListedWithTheirHost() throws IOException {
        await("both agents' VMs", Duration.ofSeconds(60),
                () -> state("fl-a-1@host-a").equals("RUNNING") && state("fl-b-1@host-b").equals("RUNNING"));
        assertThat(vm("fl-a-1@host-a")).containsEntry("host", "host-a").containsEntry("tenant", "acme");
        assertThat(vm("fl-b-1@host-b")).containsEntry("host", "host-b").containsEntry("tenant", "globex");
        List<Map<String, Object>> hosts = web.get().uri("/api/v1/hosts").header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk().expectBody(LIST).returnResult().getResponseBody();
        assertThat(hosts).extracting(h -> h.get("host") + " " + h.get("state") + " " + h.get("address"))
                .containsExactlyInAnyOrder("host-a CONNECTED " + AgentHost.address(1),
                        "host-b CONNECTED " + AgentHost.address(2));
    }

    @Test
    @Order(2)
    void eachProcessListEqualsThatGuestsOwnProc() throws IOException {
        for (AgentHost h : List.of(hostA, hostB)) {
            Map<Integer, String> before = h.guestProcesses();
            Map<String, Object> list = web.get().uri("/api/v1/vms/" + h.vmId() + "/processes?mode=pause")
                    .header("Authorization", "Bearer " + operator()).exchange().expectStatus().isOk()
                    .expectBody(MAP).returnResult().getResponseBody();
            Map<Integer, String> after = h.guestProcesses();
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> processes = (List<Map<String, Object>>) list.get("processes");
            Set<Integer> listed = processes.stream().map(p -> (Integer) p.get("pid")).collect(Collectors.toSet());
            Set<Integer> lived = new HashSet<>(before.keySet());
            lived.retainAll(after.keySet()); // alive before and after the read: alive during it
            assertThat(listed).as("%s: every process the guest had before and after the read", h.vmId())
                    .containsAll(lived);
            for (Map<String, Object> p : processes) {
                int pid = (Integer) p.get("pid");
                if (lived.contains(pid) && !(Boolean) p.get("kernelThread") && before.get(pid).equals(after.get(pid))) {
                    assertThat(p.get("name")).as("%s pid %d", h.vmId(), pid).isEqualTo(before.get(pid));
                }
            }
            assertThat(list).containsEntry("vm", h.vmId()).containsEntry("mode", "pause");
        }
    }

    @Test
    @Order(3)
    void aTraceOnEachHostStreamsThroughTheControlPlane() throws Exception {
        for (AgentHost h : List.of(hostA, hostB)) {
            String id = trace(h);
            List<Map<String, Object>> syscalls = web.get().uri("/api/v1/sessions/" + id + "/events")
                    .header("Authorization", "Bearer " + operator()).accept(MediaType.APPLICATION_NDJSON).exchange()
                    .expectStatus().isOk().returnResult(MAP).getResponseBody()
                    .filter(e -> "syscall".equals(e.get("type")))
                    .take(10).take(Duration.ofSeconds(40)).collectList().block(Duration.ofSeconds(50));
            assertThat(syscalls).as("%s: syscalls of busy-writer", h.vmId()).hasSizeGreaterThanOrEqualTo(5)
                    .allSatisfy(e -> assertThat(e.get("data").toString()).contains("name=busy-writer"));
            web.post().uri("/api/v1/sessions/" + id + "/stop").header("Authorization", "Bearer " + operator())
                    .exchange().expectStatus().isOk();
        }
    }

    private String trace(AgentHost h) throws IOException {
        return (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", h.vmId(), "kind", "TRACE", "targetProcess", "busy-writer", "method", "M5",
                        "maxDurationSeconds", 300))
                .exchange().expectStatus().isCreated().expectBody(MAP).returnResult().getResponseBody().get("id");
    }

    @Test
    @Order(4)
    void aCallerWhoseCertificateAnotherCaSignedIsRefusedByTheAgent() {
        TlsFiles rogue = new TlsFiles(ROOT.resolve("rogue/ca.pem"), ROOT.resolve("rogue/control-plane.pem"),
                ROOT.resolve("rogue/control-plane.key"));
        ManagedChannel channel = Grpc.newChannelBuilder(AgentHost.address(1), rogue.client())
                .overrideAuthority(TlsFiles.AGENT_NAME).build();
        try {
            assertThatThrownBy(() -> AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getInfo(GetInfoRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    @Order(5)
    void aKilledAgentsVmIsUnreachableAndItsSessionLostWithin10sWhileTheOtherHostCarriesOn() throws Exception {
        String onA = trace(hostA);
        String onB = trace(hostB);
        List<Map<String, Object>> fromB = new CopyOnWriteArrayList<>();
        Disposable streamB = web.get().uri("/api/v1/sessions/" + onB + "/events")
                .header("Authorization", "Bearer " + operator()).accept(MediaType.APPLICATION_NDJSON).exchange()
                .returnResult(MAP).getResponseBody().filter(e -> "syscall".equals(e.get("type"))).subscribe(fromB::add);
        try {
            await("host-b's trace streams", Duration.ofSeconds(30), () -> fromB.size() >= 3);
            long killedAt = System.nanoTime();
            hostA.killAgent();
            await("host-a's VM unreachable and its session lost", Duration.ofSeconds(10), () -> {
                try {
                    return "UNREACHABLE".equals(vm("fl-a-1@host-a").get("state"))
                            && "LOST".equals(session(onA).get("state"));
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            });
            System.out.printf("FLEET agent killed: unreachable and lost after %d ms%n",
                    (System.nanoTime() - killedAt) / 1_000_000);
            assertThat(session(onA)).containsEntry("end", "AGENT_LOST");
            int before = fromB.size();
            await("host-b's trace goes on", Duration.ofSeconds(20), () -> fromB.size() > before + 2);
            assertThat(session(onB)).containsEntry("state", "ACTIVE");
            assertThat(vm("fl-b-1@host-b")).containsEntry("state", "RUNNING");

            hostA.startAgent();
            await("host-a back", Duration.ofSeconds(60), () -> state("fl-a-1@host-a").equals("RUNNING"));
        } finally {
            streamB.dispose();
        }
    }

    @Test
    @Order(6)
    void aHostCutOffTheNetworkIsUnreachableWithin10sAndBackWhenItsLinkIs() {
        await("host-b listed", Duration.ofSeconds(30), () -> state("fl-b-1@host-b").equals("RUNNING"));
        long cutAt = System.nanoTime();
        hostB.cutOff(true);
        try {
            await("host-b's VM unreachable", Duration.ofSeconds(10), () -> state("fl-b-1@host-b").equals("UNREACHABLE"));
            System.out.printf("FLEET host cut off: unreachable after %d ms%n", (System.nanoTime() - cutAt) / 1_000_000);
        } finally {
            hostB.cutOff(false);
        }
        long restoredAt = System.nanoTime();
        await("host-b back", Duration.ofSeconds(60), () -> state("fl-b-1@host-b").equals("RUNNING"));
        System.out.printf("FLEET host restored: listed again after %d ms%n", (System.nanoTime() - restoredAt) / 1_000_000);
    }

    private String state(String id) {
        try {
            return String.valueOf(vm(id).get("state"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
