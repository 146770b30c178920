package dev.periscope.account;

import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;

/**
 * {@code /tokens}: the API tokens the caller may see (its own; a tenant admin's tenant's; all for operators), with
 * forms that create one (its secret shown once) and revoke one through {@code /api/v1/tokens}.
 */
@Controller
class AccountPages {

    private final Accounts accounts;

    AccountPages(Accounts accounts) {
        this.accounts = accounts;
    }

    @GetMapping("/tokens")
    String tokens(Caller caller, Model model) {
        model.addAttribute("tokens", accounts.tokens(caller).collectList());
        return "tokens";
    }
}
