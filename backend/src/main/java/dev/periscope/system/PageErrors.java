package dev.periscope.system;

import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpStatus;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.ControllerAdvice;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebExchange;

/**
 * Errors of {@link DashboardPage} controllers (an unknown or foreign VM or session, a page the role may not open)
 * as the dashboard's error page with the right status; the REST API keeps its problem details.
 */
@ControllerAdvice(annotations = DashboardPage.class)
@Order(Ordered.HIGHEST_PRECEDENCE)
class PageErrors {

    @ExceptionHandler(ResponseStatusException.class)
    String statusError(ResponseStatusException e, ServerWebExchange exchange, Model model) {
        exchange.getResponse().setStatusCode(e.getStatusCode());
        HttpStatus status = HttpStatus.resolve(e.getStatusCode().value());
        model.addAttribute("status", e.getStatusCode().value());
        model.addAttribute("error", status == null ? "Error" : status.getReasonPhrase());
        model.addAttribute("message", e.getReason());
        model.addAttribute("path", exchange.getRequest().getPath().pathWithinApplication().value());
        return "error";
    }
}
