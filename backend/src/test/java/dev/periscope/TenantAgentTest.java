package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.fleet.AgentLink;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.TestPki;
import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vm.FleetSliceConfiguration;
import java.io.IOException;
import java.net.InetSocketAddress;
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
import org.springframework.http.MediaType;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * A tenant's own agent (its monitor) beside a host's agent of every tenant, over real mutual TLS on 127.0.0.1 with
 * certificates from {@code agent/certs.sh}: the control plane binds each agent to what its certificate says. acme's
 * monitor reports acme-2 under another tenant's label, and the ownership table says globex too: acme-2 is acme's all
 * the same, globex's users neither see it nor reach its agent, and an operator cannot give it to globex. A third agent,
 * whose certificate names two tenants, is refused and its host says why. The host agent's VMs are owned as before.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient(timeout = "PT30S")
class TenantAgentTest {

    static final Path VAR = ApiTest.newVarDir();
    static final Path PKI = VAR.resolve("pki"); // where the server looks for its TLS files by default
    static final FakeAgent MONITOR;
    static final FakeAgent HOST;
    static final FakeAgent TWO_TENANTS;

    static {
        TestPki.certs(PKI, "--agent", "dom0", "--tenant-agent", "mon-acme:acme");
        TestPki.agent(PKI, "two", "URI:urn:periscope:tenant:acme", "URI:urn:periscope:tenant:globex");
        InetSocketAddress any = new InetSocketAddress("127.0.0.1", 0);
        MONITOR = FakeAgent.overTls("mon-acme", any, TestPki.agentFiles(PKI, "mon-acme"));
        HOST = FakeAgent.overTls("dom0", any, TestPki.agentFiles(PKI, "dom0"));
        TWO_TENANTS = FakeAgent.overTls("two", any, TestPki.agentFiles(PKI, "two"));
    }

    @Autowired
    WebTestClient web;

    @Autowired
    Agents agents;

    @Autowired
    DatabaseClient db;

    @DynamicPropertySource
    static void properties(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        registry.add("periscope.fleet.embedded-agent.enabled", () -> "false");
        registry.add("periscope.xen-lab.enabled", () -> "false");
        List<FakeAgent> all = List.of(MONITOR, HOST, TWO_TENANTS);
        for (int i = 0; i < all.size(); i++) {
            String address = "127.0.0.1:" + all.get(i).port();
            registry.add("periscope.fleet.agents[" + i + "]", () -> address);
        }
    }

    @AfterAll
    static void stopAgents() {
        MONITOR.close();
        HOST.close();
        TWO_TENANTS.close();
    }

    @BeforeEach
    void fleet() {
        MONITOR.vms(FakeAgent.vm("acme-2", "globex", true, 512, Capability.READ_MEMORY));
        MONITOR.answerAll("acme-2", List.of(FakeAgent.process(42, 1, "acme-2-daemon", false, "/usr/sbin/acme-2-daemon")));
        ApiTest.tenantVms(HOST);
        FleetSliceConfiguration.awaitListed(agents, MONITOR);
        FleetSliceConfiguration.awaitListed(agents, HOST);
    }

    @Test
    void operatorsSeeEachHostsBindingAndWhyAnAgentIsRefused() throws IOException {
        awaitRefused();
        List<Map<String, Object>> hosts = web.get().uri("/api/v1/hosts").header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk().expectBody(ApiTest.LIST).returnResult().getResponseBody();
        assertThat(hosts).hasSize(3);
        assertThat(host(hosts, MONITOR)).containsEntry("host", "mon-acme").containsEntry("tenant", "acme")
                .containsEntry("state", "CONNECTED").containsEntry("vms", 1);
        assertThat(host(hosts, HOST)).containsEntry("host", "dom0").containsEntry("tenant", null)
                .containsEntry("state", "CONNECTED").containsEntry("vms", 2);
        assertThat(host(hosts, TWO_TENANTS)).containsEntry("state", "REFUSED").containsEntry("vms", 0)
                .containsEntry("tenant", null)
                .extractingByKey("lastError").asString().isEqualTo("its certificate names 2 tenants "
                        + "(urn:periscope:tenant:acme, urn:periscope:tenant:globex); a tenant's agent names exactly one");
        assertThat(TWO_TENANTS.calls()).isEmpty();

        String page = web.get().uri("/").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(page).contains(">Tenant</th>");
        assertThat(page.substring(page.indexOf("data-host=\"mon-acme\""))).contains("<td>acme</td>");
        assertThat(page.substring(page.indexOf("data-host=\"dom0\""))).contains("every tenant");
        assertThat(page.substring(page.indexOf("127.0.0.1:" + TWO_TENANTS.port()))).contains("<td class=\"muted\">–</td>",
                "badge refused", "its certificate names 2 tenants");
    }

    @Test
    void aTenantAgentsVmIsItsTenantsWhateverItsLabelOrTheOwnershipTableSays() throws IOException {
        db.sql("INSERT INTO vm_owner (vm_name, tenant_id, assigned_by, assigned_at) VALUES ('acme-2@mon-acme', "
                + "'globex', 'test', CURRENT_TIMESTAMP)").then().block(Duration.ofSeconds(10));
        try {
            web.get().uri("/api/v1/vms/acme-2@mon-acme").header("Authorization", "Bearer " + operator()).exchange()
                    .expectStatus().isOk().expectBody().jsonPath("$.tenant").isEqualTo("acme");

            String acme = ApiTest.userToken(web, VAR, "acme-user");
            web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + acme).exchange().expectStatus().isOk()
                    .expectBody().jsonPath("$[?(@.id == 'acme-2@mon-acme')].tenant").isEqualTo(List.of("acme"));
            web.get().uri("/api/v1/vms/acme-2@mon-acme/processes?mode=live").header("Authorization", "Bearer " + acme)
                    .exchange().expectStatus().isOk().expectBody(String.class)
                    .value(body -> assertThat(body).contains("acme-2-daemon"));
            assertThat(MONITOR.calls()).as("acme's request went to acme's monitor").hasSize(1);

            String globex = ApiTest.userToken(web, VAR, "globex-user");
            String list = web.get().uri("/api/v1/vms").header("Authorization", "Bearer " + globex).exchange()
                    .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
            assertThat(list).contains("globex-1@dom0").doesNotContain("acme-2", "mon-acme");
            for (String uri : List.of("/api/v1/vms/acme-2@mon-acme", "/api/v1/vms/acme-2",
                    "/api/v1/vms/acme-2@mon-acme/processes?mode=live")) {
                String body = web.get().uri(uri).header("Authorization", "Bearer " + globex).exchange()
                        .expectStatus().isNotFound().expectBody(String.class).returnResult().getResponseBody();
                assertThat(body).as(uri).contains("no VM named").doesNotContain("acme-2-daemon", "\"tenant\"");
            }
            String session = web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + globex)
                    .contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("vm", "acme-2@mon-acme", "kind",
                            "PROCESS_LIST")).exchange().expectStatus().isNotFound().expectBody(String.class)
                    .returnResult().getResponseBody();
            assertThat(session).doesNotContain("acme-2-daemon");
            assertThat(MONITOR.calls()).as("nothing of globex's reached acme's monitor").hasSize(1);
        } finally {
            db.sql("DELETE FROM vm_owner WHERE vm_name = 'acme-2@mon-acme'").then().block(Duration.ofSeconds(10));
        }
    }

    @Test
    void anOperatorCannotGiveATenantAgentsVmToAnotherTenant() throws IOException {
        String detail = "VM acme-2@mon-acme is reported by tenant acme's own agent, whose certificate binds it to acme: "
                + "it cannot be assigned to globex";
        web.put().uri("/api/v1/vms/acme-2@mon-acme/owner").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"tenant\":\"globex\"}").exchange()
                .expectStatus().isEqualTo(409)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)
                .expectBody().jsonPath("$.detail").isEqualTo(detail);
        web.get().uri("/api/v1/vms/acme-2@mon-acme").header("Authorization", "Bearer " + operator()).exchange()
                .expectBody().jsonPath("$.tenant").isEqualTo("acme");
        web.get().uri("/api/v1/audit?limit=5").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody()
                .jsonPath("$[0].action").isEqualTo("VM_OWNER_ASSIGNED")
                .jsonPath("$[0].target").isEqualTo("acme-2@mon-acme")
                .jsonPath("$[0].outcome").isEqualTo("denied")
                .jsonPath("$[0].detail").isEqualTo(detail);
        web.put().uri("/api/v1/vms/acme-2@mon-acme/owner").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"tenant\":\"acme\"}").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.tenant").isEqualTo("acme");
        web.delete().uri("/api/v1/vms/acme-2@mon-acme/owner").header("Authorization", "Bearer " + operator())
                .exchange().expectStatus().isOk();
    }

    @Test
    void aHostAgentOfEveryTenantIsOwnedAsBefore() throws IOException {
        web.get().uri("/api/v1/vms/globex-1@dom0").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.tenant").isEqualTo("globex");
        web.put().uri("/api/v1/vms/acme-1@dom0/owner").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"tenant\":\"globex\"}").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.tenant").isEqualTo("globex");
        web.delete().uri("/api/v1/vms/acme-1@dom0/owner").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.tenant").isEqualTo("acme");
        String globex = ApiTest.userToken(web, VAR, "globex-user");
        web.get().uri("/api/v1/vms/globex-1@dom0/processes?mode=live").header("Authorization", "Bearer " + globex)
                .exchange().expectStatus().isOk().expectBody(String.class)
                .value(body -> assertThat(body).contains("globex-1-daemon"));
    }

    private static Map<String, Object> host(List<Map<String, Object>> hosts, FakeAgent agent) {
        return hosts.stream().filter(h -> h.get("address").equals("127.0.0.1:" + agent.port())).findFirst()
                .orElseThrow(() -> new AssertionError("no host at port " + agent.port() + " in " + hosts));
    }

    private void awaitRefused() {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (agents.links().stream().noneMatch(l -> l.state() == AgentLink.State.REFUSED)) {
            assertThat(System.nanoTime()).as("the two-tenant agent is refused").isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    private static String operator() throws IOException {
        return WebSliceConfiguration.operatorToken(VAR);
    }
}
