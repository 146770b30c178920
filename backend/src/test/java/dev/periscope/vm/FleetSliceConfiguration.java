package dev.periscope.vm;

import dev.periscope.agent.FakeAgent;
import dev.periscope.fleet.AgentLink;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.FleetMetrics;
import dev.periscope.fleet.FleetProperties;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;

/**
 * The fleet with its ownership table and kernel profiles, for slices of other features: the control plane's real side
 * of the agent API over one {@link FakeAgent} (no embedded agent, no Xen lab).
 */
@TestConfiguration(proxyBeanMethods = false)
@EnableConfigurationProperties(FleetProperties.class)
@Import({Agents.class, FleetMetrics.class, Fleet.class, VmOwnership.class, KernelProfiles.class})
public class FleetSliceConfiguration {

    /** Slices have no metrics auto-configuration: a plain registry for the fleet's meters. */
    @Bean
    MeterRegistry meterRegistry() {
        return new SimpleMeterRegistry();
    }

    /** Waits until {@code agents} has {@code agent}'s VMs (its watch delivered them). */
    public static void awaitListed(Agents agents, FakeAgent agent) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (agents.host(agent.host()).map(l -> l.status().vms().size() != agent.vmCount()
                || l.state() != AgentLink.State.CONNECTED).orElse(true)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the control plane did not list " + agent.host() + "'s VMs");
            }
            Thread.onSpinWait();
        }
    }

    /** Points the slice's fleet at {@code agent} only. */
    public static void register(DynamicPropertyRegistry registry, FakeAgent agent) {
        registry.add("periscope.fleet.embedded-agent.enabled", () -> "false");
        registry.add("periscope.fleet.agents", agent::address);
        registry.add("periscope.xen-lab.enabled", () -> "false");
    }
}
