package dev.periscope.audit;

import dev.periscope.caller.Caller;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.Pattern;
import org.springframework.validation.annotation.Validated;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Flux;

/** {@code GET /api/v1/audit}: the audit trail, scoped to the caller's tenant (operators see all). */
@RestController
@Validated
class AuditController {

    private final Audit audit;

    AuditController(Audit audit) {
        this.audit = audit;
    }

    @GetMapping("/api/v1/audit")
    Flux<AuditRecord> list(Caller caller,
                           @RequestParam(required = false) @Pattern(regexp = "[A-Z_]{1,40}") String action,
                           @RequestParam(defaultValue = "100") @Min(1) @Max(1000) int limit) {
        return audit.recent(caller, action, limit);
    }
}
