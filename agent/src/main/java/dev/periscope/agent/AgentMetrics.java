package dev.periscope.agent;

import dev.periscope.agent.api.Domain;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The agent's own gauges: sessions running, the host's VMs (running or not) and engine calls waiting for a thread.
 * Per-VM event counters come with each session's overhead samples, which the control plane exports per host and VM.
 */
final class AgentMetrics {

    private AgentMetrics() {
    }

    static void bind(HostAgent agent, MeterRegistry registry) {
        Gauge.builder("periscope.agent.sessions", agent.sessions(), s -> s.active())
                .description("sessions running on this agent").tag("host", agent.host()).register(registry);
        Gauge.builder("periscope.agent.vms", agent.domains(), d -> d.latest().getDomainsList().stream()
                        .filter(Domain::getRunning).count())
                .description("running VMs on this host").tag("host", agent.host()).register(registry);
        Gauge.builder("periscope.agent.engine.backlog", agent, HostAgent::engineBacklog)
                .description("engine calls waiting for a thread").tag("host", agent.host()).register(registry);
    }
}
