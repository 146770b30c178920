package dev.periscope.tenant;

import dev.periscope.caller.Caller;
import dev.periscope.audit.Audit;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;
import org.springframework.dao.DuplicateKeyException;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** {@code /api/v1/tenants}: operators create tenants and set their policy; tenant members see their own. */
@RestController
class TenantController {

    private final Tenants tenants;
    private final Audit audit;

    TenantController(Tenants tenants, Audit audit) {
        this.tenants = tenants;
        this.audit = audit;
    }

    /** A new tenant. */
    record NewTenant(@NotBlank @Pattern(regexp = "(?!(?:isolated|prot)$)[a-z][a-z0-9]{1,30}",
                             message = "must be 2-31 lower-case letters and digits, starting with a letter, and neither "
                                     + "isolated nor prot (Xen's own FLASK policy declares isolated_domU_t and "
                                     + "prot_domU_t, the type a tenant's guests would get)") String id,
                     @NotBlank @Size(max = 200) String displayName, @NotNull @Valid Policy policy) {
    }

    /** A tenant's self-service policy. */
    record Policy(boolean approvalRequired, @Min(0) @Max(1000) int maxConcurrentSessions,
                  @Min(0) @Max(100_000) int maxTraceMinutesPerDay) {
    }

    @GetMapping("/api/v1/tenants")
    Flux<Tenant> list(Caller caller) {
        return tenants.visibleTo(caller);
    }

    @GetMapping("/api/v1/tenants/{id}")
    Mono<Tenant> get(Caller caller, @PathVariable String id) {
        return Mono.just(id).filter(caller::sees).flatMap(tenants::find).switchIfEmpty(notFound(id));
    }

    @PostMapping("/api/v1/tenants")
    @ResponseStatus(HttpStatus.CREATED)
    Mono<Tenant> create(Caller caller, @Valid @RequestBody NewTenant body) {
        requireOperator(caller);
        Policy p = body.policy();
        return tenants.insert(Tenants.newTenant(body.id(), body.displayName(), p.approvalRequired(),
                        p.maxConcurrentSessions(), p.maxTraceMinutesPerDay()))
                .onErrorMap(DuplicateKeyException.class,
                        e -> new ResponseStatusException(HttpStatus.CONFLICT, "tenant '" + body.id() + "' exists"))
                .flatMap(t -> audit.record(caller, t.id(), "TENANT_CREATED", t.id(), "ok", p.toString()).thenReturn(t));
    }

    @PutMapping("/api/v1/tenants/{id}/policy")
    Mono<Tenant> policy(Caller caller, @PathVariable String id, @Valid @RequestBody Policy body) {
        requireOperator(caller);
        return tenants.updatePolicy(id, body.approvalRequired(), body.maxConcurrentSessions(),
                        body.maxTraceMinutesPerDay())
                .switchIfEmpty(notFound(id))
                .flatMap(t -> audit.record(caller, id, "TENANT_POLICY", id, "ok", body.toString()).thenReturn(t));
    }

    private static void requireOperator(Caller caller) {
        if (!caller.isOperator()) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators manage tenants");
        }
    }

    private static <T> Mono<T> notFound(String id) {
        return Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no tenant '" + id + "'"));
    }
}
