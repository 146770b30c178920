package dev.periscope.policy;

import dev.periscope.caller.Caller;
import dev.periscope.tenant.Tenants;
import dev.periscope.vm.Fleet;
import java.time.Instant;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Mono;

/** {@code GET /api/v1/policy/flask} (operators): the FLASK policy module for the current tenants and VMs. */
@RestController
class PolicyController {

    private final Tenants tenants;
    private final Fleet fleet;
    private final FlaskPolicy policy = FlaskPolicy.fromClasspath();

    PolicyController(Tenants tenants, Fleet fleet) {
        this.tenants = tenants;
        this.fleet = fleet;
    }

    @GetMapping(path = "/api/v1/policy/flask", produces = MediaType.TEXT_PLAIN_VALUE)
    Mono<String> flask(Caller caller) {
        if (!caller.isOperator()) {
            return Mono.error(new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators read the FLASK policy"));
        }
        return Mono.zip(tenants.all().collectList(), fleet.all().collectList())
                .map(t -> policy.render(t.getT1(), t.getT2(), Instant.now()));
    }
}
