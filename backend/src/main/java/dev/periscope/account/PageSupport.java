package dev.periscope.account;

import dev.periscope.caller.Caller;
import org.springframework.security.core.context.ReactiveSecurityContextHolder;
import org.springframework.security.web.server.csrf.CsrfToken;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.ControllerAdvice;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.ModelAttribute;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * The login page, and what every page's layout needs: the CSRF token its forms and scripts carry (WebFlux keeps it
 * as a lazy request attribute), who is logged in ({@code me}, absent on the login page) and the current path.
 */
@Controller
@ControllerAdvice
class PageSupport {

    @GetMapping("/login")
    String login() {
        return "login";
    }

    @ModelAttribute("_csrf")
    Mono<CsrfToken> csrfToken(ServerWebExchange exchange) {
        Mono<CsrfToken> token = exchange.getAttribute(CsrfToken.class.getName());
        return token == null ? Mono.empty() : token;
    }

    @ModelAttribute("me")
    Mono<Caller> me() {
        return ReactiveSecurityContextHolder.getContext()
                .mapNotNull(context -> context.getAuthentication() == null ? null
                        : context.getAuthentication().getPrincipal() instanceof PeriscopeUser user ? user.caller() : null);
    }

    @ModelAttribute("currentPath")
    String currentPath(ServerWebExchange exchange) {
        return exchange.getRequest().getPath().pathWithinApplication().value();
    }
}
