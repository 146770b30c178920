package dev.periscope.fleet;

import dev.periscope.account.Caller;
import java.time.Instant;
import java.util.List;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;

/** {@code GET /api/v1/hosts} (operators): every agent the control plane knows, and how it is doing. */
@RestController
class HostController {

    private final Agents agents;

    HostController(Agents agents) {
        this.agents = agents;
    }

    /**
     * One host as the fleet page and the API show it.
     *
     * @param host         its name (its agent's), "" until the agent answered once
     * @param address      where its agent is reached ({@code in-process:NAME} for the embedded one)
     * @param state        CONNECTING, CONNECTED or UNREACHABLE
     * @param lastSeen     the agent's last VM update or heartbeat
     * @param lastError    why it is unreachable
     * @param agentVersion the agent's version
     * @param platforms    its platforms (qemu-lab, xen, libvirt)
     * @param vms          its VMs (running or not)
     */
    record HostView(String host, String address, AgentLink.State state, Instant lastSeen, String lastError,
                    String agentVersion, List<String> platforms, int vms) {

        static HostView of(AgentLink.Status s) {
            return new HostView(s.info().map(i -> i.getHost()).orElse(""), s.address(), s.state(), s.lastSeen(),
                    s.lastError(), s.info().map(i -> i.getAgentVersion()).orElse(""),
                    s.info().map(i -> i.getPlatformsList().stream().map(p -> p.getName()).toList()).orElse(List.of()),
                    s.vms().size());
        }
    }

    @GetMapping("/api/v1/hosts")
    Flux<HostView> hosts(Caller caller) {
        if (!caller.isOperator()) {
            return Flux.error(new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators list hosts"));
        }
        return Flux.fromIterable(agents.links()).map(l -> HostView.of(l.status()));
    }

    /** The hosts for the dashboard's fleet page. */
    List<HostView> hosts() {
        return agents.links().stream().map(l -> HostView.of(l.status())).toList();
    }
}
