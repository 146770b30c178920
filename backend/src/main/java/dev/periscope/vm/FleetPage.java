package dev.periscope.vm;

import dev.periscope.caller.Caller;
import dev.periscope.fleet.Agents;
import dev.periscope.system.DashboardPage;
import java.util.List;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import reactor.core.publisher.Mono;

/**
 * {@code /}: the dashboard's fleet page, the VMs the caller may see (a tenant's users only their tenant's) with their
 * hosts, filterable by host, tenant and state, and for operators the hosts themselves (agent state, last seen, version,
 * platforms). Active sessions and event-rate sparklines are filled in by the page from the REST API.
 */
@DashboardPage
class FleetPage {

    private final Fleet fleet;
    private final Agents agents;

    FleetPage(Fleet fleet, Agents agents) {
        this.fleet = fleet;
        this.agents = agents;
    }

    @GetMapping("/")
    String fleet(Caller caller, Model model) {
        Mono<List<VmView>> vms = fleet.visible(caller).collectList().cache();
        model.addAttribute("vms", vms);
        model.addAttribute("tenants", vms.map(list -> list.stream().map(VmView::tenant).distinct().sorted().toList()));
        model.addAttribute("hostNames", vms.map(list -> list.stream().map(VmView::host).distinct().sorted().toList()));
        model.addAttribute("hosts", caller.isOperator() ? agents.hosts() : List.of());
        return "fleet";
    }
}
