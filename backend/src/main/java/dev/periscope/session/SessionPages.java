package dev.periscope.session;

import dev.periscope.caller.Caller;
import dev.periscope.system.DashboardPage;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;

/**
 * {@code /sessions}: the sessions the caller may see; {@code /sessions/{id}}: one session (model attribute {@code sn}: Thymeleaf reserves {@code session})'s live page (its event
 * stream and overhead come from the REST API: {@code /api/v1/sessions/{id}/events} and {@code .../overhead}).
 */
@DashboardPage
class SessionPages {

    private final SessionStore store;

    SessionPages(SessionStore store) {
        this.store = store;
    }

    @GetMapping("/sessions")
    String list(Caller caller, Model model) {
        model.addAttribute("sessions", store.list(caller, null).collectList());
        return "sessions";
    }

    @GetMapping("/sessions/{id}")
    String session(Caller caller, @PathVariable String id, Model model) {
        model.addAttribute("sn", store.find(caller, id).switchIfEmpty(Sessions.notFound(id)));
        return "session";
    }
}
