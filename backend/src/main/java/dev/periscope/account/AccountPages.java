package dev.periscope.account;

import dev.periscope.caller.Caller;
import dev.periscope.caller.Role;
import dev.periscope.system.DashboardPage;
import java.util.List;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import reactor.core.publisher.Mono;

/**
 * {@code /tokens}: the API tokens the caller may see (its own; a tenant admin's tenant's; all for operators), with
 * forms that create one (its secret shown once) and revoke one through {@code /api/v1/tokens}; for operators and
 * tenant admins also the users they manage and a form that creates one ({@code /api/v1/users}).
 */
@DashboardPage
class AccountPages {

    private final Accounts accounts;

    AccountPages(Accounts accounts) {
        this.accounts = accounts;
    }

    @GetMapping("/tokens")
    String tokens(Caller caller, Model model) {
        model.addAttribute("tokens", accounts.tokens(caller).collectList());
        model.addAttribute("users", caller.role() == Role.TENANT_USER ? Mono.just(List.of())
                : accounts.users(caller).collectList());
        return "tokens";
    }
}
