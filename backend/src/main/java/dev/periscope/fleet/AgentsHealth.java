package dev.periscope.fleet;

import java.util.List;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.stereotype.Component;

/**
 * The fleet's part of the control plane's health ({@code agents}, in the readiness group): down while agents are
 * configured and none of them answers, since nothing could then be read from any VM; up otherwise, with how many
 * answer.
 */
@Component("agentsHealthIndicator")
class AgentsHealth implements HealthIndicator {

    private final Agents agents;

    AgentsHealth(Agents agents) {
        this.agents = agents;
    }

    @Override
    public Health health() {
        List<AgentLink> links = agents.links();
        long connected = links.stream().filter(l -> l.state() == AgentLink.State.CONNECTED).count();
        Health.Builder health = links.isEmpty() || connected > 0 ? Health.up() : Health.down();
        return health.withDetail("agents", links.size()).withDetail("connected", connected).build();
    }
}
