package dev.periscope.fleet;

import dev.periscope.caller.Caller;
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

    @GetMapping("/api/v1/hosts")
    Flux<HostView> hosts(Caller caller) {
        if (!caller.isOperator()) {
            return Flux.error(new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators list hosts"));
        }
        return Flux.fromIterable(agents.hosts());
    }
}
