package dev.periscope.vm;

import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.ResponseBody;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The fleet: {@code /api/v1/vms} as JSON, {@code /} as the dashboard's fleet page. */
@Controller
class VmController {

    private final Fleet fleet;

    VmController(Fleet fleet) {
        this.fleet = fleet;
    }

    @GetMapping("/api/v1/vms")
    @ResponseBody
    Flux<VmView> list() {
        return fleet.all();
    }

    @GetMapping("/api/v1/vms/{vm}")
    @ResponseBody
    Mono<VmView> get(@PathVariable String vm) {
        return fleet.get(vm);
    }

    @GetMapping("/")
    String fleetPage(Model model) {
        model.addAttribute("vms", fleet.all().collectList());
        return "fleet";
    }
}
