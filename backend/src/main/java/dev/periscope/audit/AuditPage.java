package dev.periscope.audit;

import dev.periscope.caller.Caller;
import dev.periscope.system.DashboardPage;
import java.util.Locale;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;

/** {@code /audit}: the newest audit records the caller may see, filtered by action and by user. */
@DashboardPage
class AuditPage {

    private static final int LIMIT = 500;

    private final Audit audit;

    AuditPage(Audit audit) {
        this.audit = audit;
    }

    @GetMapping("/audit")
    String audit(Caller caller, @RequestParam(required = false) String action,
                 @RequestParam(required = false) String user, Model model) {
        String act = action == null || action.isBlank() ? null : action.strip().toUpperCase(Locale.ROOT);
        if (act != null && !act.matches("[A-Z_]{1,40}")) {
            act = null;
        }
        String who = user == null ? "" : user.strip().toLowerCase(Locale.ROOT);
        model.addAttribute("records", audit.recent(caller, act, LIMIT)
                .filter(r -> who.isEmpty() || r.actor().toLowerCase(Locale.ROOT).contains(who))
                .collectList());
        model.addAttribute("action", act == null ? "" : act);
        model.addAttribute("user", who);
        model.addAttribute("limit", LIMIT);
        return "audit";
    }
}
