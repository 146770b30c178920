package dev.periscope.overhead;

import dev.periscope.caller.Caller;
import dev.periscope.vm.Fleet;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;

/** {@code GET /api/v1/vms/{vm}/overhead}: what watching a VM has cost it, per metric. */
@RestController
class OverheadController {

    private final Fleet fleet;
    private final Overhead overhead;

    OverheadController(Fleet fleet, Overhead overhead) {
        this.fleet = fleet;
        this.overhead = overhead;
    }

    @GetMapping("/api/v1/vms/{vm}/overhead")
    Flux<Overhead.Summary> forVm(Caller caller, @PathVariable String vm) {
        return fleet.get(caller, vm).flatMapMany(v -> overhead.forVm(v.id()));
    }
}
