package dev.periscope.vm;

import dev.periscope.fleet.Agents;
import dev.periscope.fleet.FakeAgent;
import dev.periscope.fleet.FleetProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;

/**
 * The fleet with its ownership table and kernel profiles, for slices of other features: the control plane's real side
 * of the agent API over one {@link FakeAgent} (no embedded agent, no Xen lab).
 */
@TestConfiguration(proxyBeanMethods = false)
@EnableConfigurationProperties(FleetProperties.class)
@Import({Agents.class, Fleet.class, VmOwnership.class, KernelProfiles.class})
public class FleetSliceConfiguration {

    /** Points the slice's fleet at {@code agent} only. */
    public static void register(DynamicPropertyRegistry registry, FakeAgent agent) {
        registry.add("periscope.fleet.embedded-agent.enabled", () -> "false");
        registry.add("periscope.fleet.agents", agent::address);
        registry.add("periscope.xen-lab.enabled", () -> "false");
    }
}
