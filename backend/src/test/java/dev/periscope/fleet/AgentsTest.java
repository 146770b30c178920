package dev.periscope.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.AgentServer;
import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.HostAgent;
import dev.periscope.agent.api.Capability;
import dev.periscope.system.PeriscopeProperties;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.driver.lab.LabDriver;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * The control plane's view of its agents over the real client side of the API (fake agents in-process): hosts named
 * by their agents, VMs by host, an agent that goes silent or away is unreachable within the configured time and comes
 * back when it answers again, two agents claiming one host; over mutual TLS, the real agent with a tenant's
 * certificate, another tenant's agent or a refused one taking over a tenant agent's address, and a tenant's agent
 * claiming another host's name.
 */
class AgentsTest {

    @TempDir
    Path var;
    private Agents agents;
    private final List<FakeAgent> fakes = new CopyOnWriteArrayList<>();
    private final List<String> changes = new CopyOnWriteArrayList<>();

    private FakeAgent fake(String host, String name) {
        FakeAgent f = new FakeAgent(host, name);
        fakes.add(f);
        return f;
    }

    private Agents agents(String... addresses) {
        Map<String, String> values = new HashMap<>(Map.of("periscope.var-dir", var.toString(),
                "periscope.xen-lab.enabled", "false", "periscope.fleet.embedded-agent.enabled", "false",
                "periscope.fleet.unreachable-after", "2s", "periscope.fleet.discovery-interval", "500ms"));
        for (int i = 0; i < addresses.length; i++) {
            values.put("periscope.fleet.agents[" + i + "]", addresses[i]);
        }
        Binder binder = new Binder(new MapConfigurationPropertySource(values));
        agents = new Agents(binder.bindOrCreate("periscope.fleet", FleetProperties.class),
                binder.bindOrCreate("periscope", PeriscopeProperties.class));
        agents.onChange(l -> changes.add(l.host().orElse("?") + " " + l.state()));
        return agents;
    }

    @AfterEach
    void stop() {
        if (agents != null) {
            agents.destroy();
        }
        fakes.forEach(FakeAgent::close);
    }

    /** acme's monitor (certificate {@code mon}, bound to acme) over TLS with one VM, linked and its VM listed. */
    private FakeAgent acmesMonitorListed(Path pki) {
        FakeAgent acme = FakeAgent.overTls("mon", new InetSocketAddress("127.0.0.1", 0), TestPki.agentFiles(pki, "mon"));
        fakes.add(acme);
        acme.vms(FakeAgent.vm("acme-2", "acme", true, 512));
        agents("127.0.0.1:" + acme.port());
        await("acme's monitor", () -> agents.vms().size() == 1);
        return acme;
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waited for: " + what).isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    @Test
    void everyHostsVmsAreListedUnderTheirHost() {
        FakeAgent a = fake("host-a", "agents-test-a"), b = fake("host-b", "agents-test-b");
        a.vms(FakeAgent.vm("web-1", "acme", true, 512, Capability.READ_MEMORY));
        b.vms(FakeAgent.vm("web-1", "globex", true, 256), FakeAgent.vm("db-1", "globex", false, 1024));
        agents(a.address(), b.address());
        await("both hosts", () -> agents.vms().size() == 3);
        assertThat(agents.vms()).extracting(v -> v.id().toString())
                .containsExactly("db-1@host-b", "web-1@host-a", "web-1@host-b");
        assertThat(agents.vm(new VmId("web-1", "host-b")).orElseThrow().info().tenant()).isEqualTo("globex");
        assertThat(agents.vm(new VmId("web-1", "host-a")).orElseThrow().capabilities())
                .containsExactly(dev.periscope.vmi.driver.Capability.READ_MEMORY); // the engine's type, read back from the API's
        assertThat(agents.vm(new VmId("web-1", "host-c"))).isEmpty();
    }

    @Test
    void aSilentAgentIsUnreachableWithinTheLimitAndReturnsWhenItAnswers() {
        FakeAgent a = fake("host-a", "agents-test-silent");
        a.vms(FakeAgent.vm("web-1", "acme", true, 512));
        agents(a.address());
        await("connected", () -> agents.host("host-a").map(l -> l.state() == AgentLink.State.CONNECTED).orElse(false));
        long t0 = System.nanoTime();
        a.silent(true);
        await("unreachable", () -> agents.host("host-a").orElseThrow().state() == AgentLink.State.UNREACHABLE);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        assertThat(agents.vms()).singleElement().satisfies(v -> assertThat(v.reachable()).isFalse());
        assertThat(changes).contains("host-a UNREACHABLE");

        a.silent(false);
        await("back", () -> agents.host("host-a").orElseThrow().state() == AgentLink.State.CONNECTED);
        assertThat(agents.vms()).singleElement().satisfies(v -> assertThat(v.reachable()).isTrue());
    }

    @Test
    void anAgentThatGoesAwayIsUnreachableAtOnceAndReturnsWhenItIsBack() {
        FakeAgent a = fake("host-a", "agents-test-restart");
        a.vms(FakeAgent.vm("web-1", "acme", true, 512));
        agents(a.address());
        await("connected", () -> agents.host("host-a").map(l -> l.state() == AgentLink.State.CONNECTED).orElse(false));
        a.close();
        await("unreachable", () -> agents.host("host-a").orElseThrow().state() == AgentLink.State.UNREACHABLE);
        assertThat(agents.host("host-a").orElseThrow().status().lastError()).contains("host-a");

        FakeAgent back = fake("host-a", "agents-test-restart");
        back.vms(FakeAgent.vm("web-1", "acme", true, 512), FakeAgent.vm("web-2", "acme", true, 512));
        await("back with its VMs", () -> agents.vms().size() == 2 && agents.vms().stream().allMatch(HostedVm::reachable));
    }

    @Test
    void theRealAgentWithATenantCertificateIsThatTenantsMonitor() {
        Path pki = var.resolve("pki");
        TestPki.certs(pki, "--tenant-agent", "mon-real:acme");
        try (LabDriver lab = new LabDriver(var.resolve("lab"));
             HostAgent agent = new HostAgent("mon-real", lab, HostAgent.Settings.DEFAULT);
             AgentServer server = AgentServer.overTls(agent, new InetSocketAddress("127.0.0.1", 0),
                     TestPki.agentFiles(pki, "mon-real"))) {
            agents("127.0.0.1:" + server.port());
            await("connected", () -> agents.host("mon-real").map(l -> l.state() == AgentLink.State.CONNECTED)
                    .orElse(false));
            assertThat(agents.host("mon-real").orElseThrow().binding()).isEqualTo(new AgentBinding.Tenant("acme", "mon-real"));
            assertThat(agents.hosts()).singleElement().satisfies(h -> {
                assertThat(h.tenant()).isEqualTo("acme");
                assertThat(h.platforms()).containsExactly(LabDriver.PLATFORM);
            });
        }
    }

    @Test
    void anotherTenantsAgentAtTheSameAddressRebindsTheLinkAndNoneOfTheFirstAgentsVmsRemain() {
        Path pki = var.resolve("pki");
        TestPki.certs(pki, "--tenant-agent", "mon:acme", "--tenant-agent", "other:globex");
        FakeAgent acme = acmesMonitorListed(pki);
        int port = acme.port();
        assertThat(agents.host("mon").orElseThrow().binding()).isEqualTo(new AgentBinding.Tenant("acme", "mon"));
        assertThat(agents.vms()).singleElement().satisfies(v -> assertThat(v.binding().tenant()).contains("acme"));

        acme.close();
        await("unreachable", () -> agents.host("mon").orElseThrow().state() == AgentLink.State.UNREACHABLE);
        FakeAgent globex = FakeAgent.overTls("other", new InetSocketAddress("127.0.0.1", port),
                TestPki.agentFiles(pki, "other"));
        fakes.add(globex);
        globex.vms(FakeAgent.vm("globex-2", "globex", true, 512));
        await("globex's monitor in its place", () -> agents.vms().stream().anyMatch(v -> v.id().name().equals("globex-2")));
        assertThat(agents.host("other").orElseThrow().binding()).isEqualTo(new AgentBinding.Tenant("globex", "other"));
        assertThat(agents.vms()).singleElement().satisfies(v -> {
            assertThat(v.id().toString()).isEqualTo("globex-2@other");
            assertThat(v.binding().tenant()).contains("globex");
        });
    }

    @Test
    void aTenantsAgentReportingAnotherHostsNameIsRefusedAndThatHostsAgentKeepsIt() {
        Path pki = var.resolve("pki");
        TestPki.certs(pki, "--tenant-agent", "mon-acme:acme");
        FakeAgent dom0 = fake("xen-host", "agents-test-dom0");
        dom0.vms(FakeAgent.vm("web-1", "globex", true, 512));
        FakeAgent impostor = FakeAgent.overTls("xen-host", new InetSocketAddress("127.0.0.1", 0),
                TestPki.agentFiles(pki, "mon-acme"));
        fakes.add(impostor);
        impostor.vms(FakeAgent.vm("web-1", "globex", true, 512));
        agents("127.0.0.1:" + impostor.port(), dom0.address());
        await("the impostor refused", () -> agents.links().stream().anyMatch(l -> l.state() == AgentLink.State.REFUSED));
        AgentLink refused = agents.links().stream().filter(l -> l.state() == AgentLink.State.REFUSED).findFirst()
                .orElseThrow();
        assertThat(refused.status().lastError()).isEqualTo("tenant acme's agent reports host 'xen-host', but its "
                + "certificate is issued to 'mon-acme': it cannot stand in for another host's agent");
        await("dom0's agent holds its host", () -> agents.host("xen-host").map(l -> l.state() == AgentLink.State.CONNECTED)
                .orElse(false));
        assertThat(agents.vms()).singleElement().satisfies(v -> {
            assertThat(v.id().toString()).isEqualTo("web-1@xen-host");
            assertThat(v.binding()).isEqualTo(AgentBinding.UNBOUND);
        });
    }

    @Test
    void anAgentWithATwoTenantCertificateAtATenantsAddressIsRefusedAndItsAnswersDropped() {
        Path pki = var.resolve("pki");
        TestPki.certs(pki, "--tenant-agent", "mon:acme");
        TestPki.agent(pki, "two", "URI:urn:periscope:tenant:acme", "URI:urn:periscope:tenant:globex");
        FakeAgent acme = acmesMonitorListed(pki);
        int port = acme.port();
        AgentLink link = agents.host("mon").orElseThrow();

        acme.close();
        await("unreachable", () -> link.state() == AgentLink.State.UNREACHABLE);
        FakeAgent two = FakeAgent.overTls("mon", new InetSocketAddress("127.0.0.1", port), TestPki.agentFiles(pki, "two"));
        fakes.add(two);
        two.vms(FakeAgent.vm("acme-2", "acme", true, 512));
        two.answerAll("acme-2", List.of(FakeAgent.process(42, 1, "acme-2-daemon", false)));
        await("refused", () -> link.state() == AgentLink.State.REFUSED);
        assertThat(link.status().lastError()).startsWith("its certificate names 2 tenants");
        assertThat(agents.vms()).as("nothing of a refused agent is shown").isEmpty();
        assertThat(changes).contains("mon REFUSED");

        // a call made all the same reaches the agent (it was sent before the agent's certificate could be read), but
        // its answer is dropped
        assertThatThrownBy(() -> link.processes("acme-2", AcquisitionMode.LIVE, AgentLink.Actor.CONTROL_PLANE)
                .block(Duration.ofSeconds(10)))
                .isInstanceOf(AgentUnreachableException.class)
                .hasMessageContaining("is refused: its certificate names 2 tenants");
        assertThat(two.calls()).hasSize(1);
    }

    @Test
    void whenTwoAgentsClaimOneHostTheFirstKeepsIt() {
        FakeAgent a = fake("same", "agents-test-first"), b = fake("same", "agents-test-second");
        a.vms(FakeAgent.vm("from-a", "acme", true, 64));
        b.vms(FakeAgent.vm("from-b", "acme", true, 64));
        agents(a.address(), b.address());
        // connected is not yet listed: wait until each link holds its own agent's VMs, then only a's may show
        await("both connected with their VMs", () -> agents.links().size() == 2 && agents.links().stream()
                .allMatch(l -> l.state() == AgentLink.State.CONNECTED && !l.status().vms().isEmpty()));
        assertThat(agents.vms()).extracting(v -> v.id().name()).containsExactly("from-a");
    }
}
