package dev.periscope.request;

import dev.periscope.caller.Caller;
import dev.periscope.system.DashboardPage;
import dev.periscope.vm.Fleet;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;

/**
 * {@code /requests}: self-service requests. A tenant's users submit requests for their own VMs and follow them; operators
 * approve or reject each with a reason. The page's forms call {@code /api/v1/requests}.
 */
@DashboardPage
class RequestPages {

    private final Requests requests;
    private final Fleet fleet;

    RequestPages(Requests requests, Fleet fleet) {
        this.requests = requests;
        this.fleet = fleet;
    }

    @GetMapping("/requests")
    String requests(Caller caller, Model model) {
        model.addAttribute("requests", requests.list(caller, null).collectList());
        model.addAttribute("vms", fleet.visible(caller).collectList());
        return "requests";
    }
}
