package dev.periscope.fleet;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.springframework.stereotype.Component;

/**
 * The fleet in the control plane's metrics (Prometheus at {@code /actuator/prometheus}): every agent's state
 * ({@code periscope_agent_state}, 1 for the state it is in), the VMs by state, and, per host and VM, what watching
 * costs as the agents' overhead samples report it ({@code periscope_events_total} by kind: seen, filtered, delivered,
 * dropped; {@code periscope_vcpu_wait_seconds_total}) and how long process lists take
 * ({@code periscope_process_list_seconds}, a histogram).
 */
@Component
public class FleetMetrics {

    /** What the hypervisor and the session did with events, as counted per overhead sample. */
    public enum EventKind { SEEN, FILTERED, DELIVERED, DROPPED }

    private final MeterRegistry registry;

    FleetMetrics(MeterRegistry registry, Agents agents) {
        this.registry = registry;
        MultiGauge states = MultiGauge.builder("periscope.agent.state")
                .description("1 for the state each agent is in (CONNECTING, CONNECTED, UNREACHABLE)").register(registry);
        MultiGauge vms = MultiGauge.builder("periscope.vms").description("VMs of the fleet by state").register(registry);
        agents.onChange(link -> {
            states.register(agents.links().stream().flatMap(l -> List.of(AgentLink.State.values()).stream()
                    .map(s -> MultiGauge.Row.of(Tags.of("host", l.host().orElse(l.address()), "state", s.name()),
                            l.state() == s ? 1 : 0))).toList(), true);
            Map<String, Long> byState = new TreeMap<>();
            for (HostedVm v : agents.vms()) {
                String state = !v.reachable() ? "UNREACHABLE" : v.info().running() ? "RUNNING" : "STOPPED";
                byState.merge(state, 1L, Long::sum);
            }
            vms.register(byState.entrySet().stream().map(e -> MultiGauge.Row.of(Tags.of("state", e.getKey()),
                    e.getValue())).toList(), true);
        });
        Gauge.builder("periscope.agents", agents, a -> a.links().size()).description("agents known").register(registry);
    }

    /** Counts {@code n} events of {@code kind} on {@code vm}. */
    public void events(VmId vm, EventKind kind, double n) {
        if (n > 0) {
            Counter.builder("periscope.events").description("events of the VMs' hypervisor extensions")
                    .tags("host", vm.host(), "vm", vm.name(), "kind", kind.name().toLowerCase(Locale.ROOT))
                    .register(registry).increment(n);
        }
    }

    /** Adds time {@code vm}'s vCPUs waited for the monitor. */
    public void vcpuWait(VmId vm, Duration wait) {
        if (!wait.isZero() && !wait.isNegative()) {
            Counter.builder("periscope.vcpu.wait").baseUnit("seconds")
                    .description("time the VMs' vCPUs waited for Periscope (synchronous events)")
                    .tags("host", vm.host(), "vm", vm.name()).register(registry).increment(wait.toNanos() / 1e9);
        }
    }

    /** Records how long a process list of {@code vm} took, as its caller saw it. */
    public void processList(VmId vm, String mode, Duration took) {
        Timer.builder("periscope.process.list").description("process lists, from the request to the answer")
                .tags("host", vm.host(), "mode", mode).publishPercentileHistogram().register(registry)
                .record(took.toNanos(), TimeUnit.NANOSECONDS);
    }
}
