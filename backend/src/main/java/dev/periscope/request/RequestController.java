package dev.periscope.request;

import dev.periscope.caller.Caller;
import dev.periscope.session.SessionKind;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.fleet.VmId;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.Size;
import java.util.Locale;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** {@code /api/v1/requests}: tenants submit, operators approve or reject; everyone sees their tenant's. */
@RestController
class RequestController {

    private final Requests requests;

    RequestController(Requests requests) {
        this.requests = requests;
    }

    /** What a tenant asks for. */
    record NewRequest(@NotBlank @Pattern(regexp = VmId.PATTERN, message = "must be a VM name, or NAME@HOST") String vm,
                      @NotNull SessionKind kind, TraceMethod method, @Positive Integer targetPid,
                      @Min(1) @Max(1440) int minutes, @NotBlank @Size(max = 500) String reason) {
    }

    /** An operator's decision and why. */
    record Decision(@NotBlank @Size(max = 500) String reason) {
    }

    @PostMapping("/api/v1/requests")
    @ResponseStatus(HttpStatus.CREATED)
    Mono<IntrospectionRequest> submit(Caller caller, @Valid @RequestBody NewRequest body) {
        return requests.submit(caller, body);
    }

    @GetMapping("/api/v1/requests")
    Flux<IntrospectionRequest> list(Caller caller, @RequestParam(required = false) String state) {
        return requests.list(caller, state == null ? null : parse(state));
    }

    @GetMapping("/api/v1/requests/{id}")
    Mono<IntrospectionRequest> get(Caller caller, @PathVariable String id) {
        return requests.find(caller, id)
                .switchIfEmpty(Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no request '" + id + "'")));
    }

    @PostMapping("/api/v1/requests/{id}/approve")
    Mono<IntrospectionRequest> approve(Caller caller, @PathVariable String id, @Valid @RequestBody Decision body) {
        return requests.approve(caller, id, body.reason());
    }

    @PostMapping("/api/v1/requests/{id}/reject")
    Mono<IntrospectionRequest> reject(Caller caller, @PathVariable String id, @Valid @RequestBody Decision body) {
        return requests.reject(caller, id, body.reason());
    }

    private static RequestState parse(String state) {
        try {
            return RequestState.valueOf(state.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST,
                    "state must be one of submitted, approved, rejected, expired, not '" + state + "'");
        }
    }
}
