package dev.periscope.tenant;

import dev.periscope.caller.Caller;
import dev.periscope.system.DashboardPage;
import org.springframework.http.HttpStatus;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.server.ResponseStatusException;

/** {@code /tenants}: operators see every tenant with its self-service policy, create tenants and change policies. */
@DashboardPage
class TenantPages {

    private final Tenants tenants;

    TenantPages(Tenants tenants) {
        this.tenants = tenants;
    }

    @GetMapping("/tenants")
    String tenants(Caller caller, Model model) {
        if (!caller.isOperator()) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators manage tenants");
        }
        model.addAttribute("tenants", tenants.all().collectList());
        return "tenants";
    }
}
