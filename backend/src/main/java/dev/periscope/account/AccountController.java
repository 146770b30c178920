package dev.periscope.account;

import dev.periscope.audit.Audit;
import dev.periscope.caller.Caller;
import dev.periscope.caller.Role;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Size;
import java.time.Duration;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code /api/v1/users} and {@code /api/v1/tokens}. Operators manage everyone; tenant admins their tenant's
 * users and tokens; tenant users themselves and their own tokens.
 */
@RestController
class AccountController {

    private final Accounts accounts;
    private final Audit audit;

    AccountController(Accounts accounts, Audit audit) {
        this.accounts = accounts;
        this.audit = audit;
    }

    /**
     * A new user. {@code tenant} is required for tenant roles and must be absent for operators. Its text form leaves
     * the password out: Spring's codecs log decoded bodies at DEBUG.
     */
    record NewUser(@NotBlank @Pattern(regexp = "[a-z][a-z0-9._-]{1,63}",
                           message = "must be 2-64 lower-case letters, digits, '.', '_' or '-'") String username,
                   @NotBlank @Size(min = 12, max = 200) String password,
                   @NotNull Role role,
                   @Pattern(regexp = "[a-z][a-z0-9]{1,30}") String tenant) {

        @Override
        public String toString() {
            return "NewUser[username=" + username + ", password=(hidden), role=" + role + ", tenant=" + tenant + "]";
        }
    }

    /** A token request: a name to recognise it by and its lifetime. */
    record NewTokenRequest(@NotBlank @Size(max = 100) String name, @Min(1) @Max(365) Integer ttlDays) {
    }

    @GetMapping("/api/v1/users")
    Flux<Accounts.UserView> users(Caller caller) {
        return accounts.users(caller);
    }

    @PostMapping("/api/v1/users")
    @ResponseStatus(HttpStatus.CREATED)
    Mono<Accounts.UserView> createUser(Caller caller, @Valid @RequestBody NewUser body) {
        if (body.role() == Role.OPERATOR ? body.tenant() != null : body.tenant() == null) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST,
                    "tenant must be given for tenant roles and absent for operators");
        }
        boolean allowed = caller.isOperator()
                || caller.role() == Role.TENANT_ADMIN && body.role() != Role.OPERATOR
                && body.tenant().equals(caller.tenantId());
        if (!allowed) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, caller.role() == Role.TENANT_ADMIN
                    ? "tenant admins create users of their own tenant only" : "only operators and tenant admins create users");
        }
        return accounts.createUser(body.username(), body.password(), body.role(), body.tenant())
                .onErrorMap(DataIntegrityViolationException.class, e -> new ResponseStatusException(HttpStatus.CONFLICT,
                        "user '" + body.username() + "' exists or tenant '" + body.tenant() + "' does not"))
                .flatMap(u -> audit.record(caller, u.tenant(), "USER_CREATED", u.username(), "ok", u.role().name())
                        .thenReturn(u));
    }

    @GetMapping("/api/v1/tokens")
    Flux<Accounts.TokenView> tokens(Caller caller) {
        return accounts.tokens(caller);
    }

    @PostMapping("/api/v1/tokens")
    @ResponseStatus(HttpStatus.CREATED)
    Mono<Accounts.NewToken> createToken(Caller caller, @Valid @RequestBody NewTokenRequest body) {
        int days = body.ttlDays() == null ? 30 : body.ttlDays();
        return accounts.issueToken(caller, body.name(), Duration.ofDays(days))
                .flatMap(t -> audit.record(caller, caller.tenantId(), "TOKEN_CREATED", t.id(), "ok",
                        "name=" + t.name() + " expires=" + t.expiresAt()).thenReturn(t));
    }

    @DeleteMapping("/api/v1/tokens/{id}")
    Mono<Accounts.TokenView> revokeToken(Caller caller, @PathVariable String id) {
        return accounts.revoke(caller, id)
                .switchIfEmpty(Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no token '" + id + "'")))
                .flatMap(t -> audit.record(caller, t.tenant(), "TOKEN_REVOKED", id, "ok", "name=" + t.name())
                        .thenReturn(t));
    }
}
