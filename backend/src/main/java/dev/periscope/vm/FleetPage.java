package dev.periscope.vm;

import dev.periscope.account.Caller;
import dev.periscope.system.DashboardPage;
import java.util.List;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import reactor.core.publisher.Mono;

/**
 * {@code /}: the dashboard's fleet page, the VMs the caller may see (a tenant's users only their tenant's). Active
 * sessions and event-rate sparklines are filled in by the page from the REST API.
 */
@DashboardPage
class FleetPage {

    private final Fleet fleet;

    FleetPage(Fleet fleet) {
        this.fleet = fleet;
    }

    @GetMapping("/")
    String fleet(Caller caller, Model model) {
        Mono<List<VmView>> vms = fleet.visible(caller).collectList().cache();
        model.addAttribute("vms", vms);
        model.addAttribute("tenants", vms.map(list -> list.stream().map(VmView::tenant).distinct().sorted().toList()));
        return "fleet";
    }
}
