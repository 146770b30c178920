package dev.periscope.vm;

import dev.periscope.caller.Caller;
import dev.periscope.audit.Audit;
import dev.periscope.fleet.AgentBinding;
import jakarta.validation.Valid;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.Pattern;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.ResponseBody;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The fleet as JSON under {@code /api/v1/vms} (the dashboard's page is {@link FleetPage}); operators assign owners,
 * except of a tenant's monitor's VMs, which are its tenant's (409).
 * {@code {vm}} is {@code name@host}, or a bare name that exactly one VM has.
 */
@Controller
class VmController {

    private final Fleet fleet;
    private final VmOwnership ownership;
    private final Audit audit;

    VmController(Fleet fleet, VmOwnership ownership, Audit audit) {
        this.fleet = fleet;
        this.ownership = ownership;
        this.audit = audit;
    }

    /** The tenant an operator assigns a VM to. */
    record Owner(@NotBlank @Pattern(regexp = "[a-z][a-z0-9]{1,30}") String tenant) {
    }

    @GetMapping("/api/v1/vms")
    @ResponseBody
    Flux<VmView> list(Caller caller) {
        return fleet.visible(caller);
    }

    @GetMapping("/api/v1/vms/{vm}")
    @ResponseBody
    Mono<VmView> get(Caller caller, @PathVariable String vm) {
        return fleet.get(caller, vm);
    }

    @PutMapping("/api/v1/vms/{vm}/owner")
    @ResponseBody
    Mono<VmView> assign(Caller caller, @PathVariable String vm, @Valid @RequestBody Owner owner) {
        requireOperator(caller);
        return fleet.get(caller, vm)
                .flatMap(v -> fleet.binding(v) instanceof AgentBinding.Tenant bound
                        && !bound.id().equals(owner.tenant())
                        ? refuseAssignment(caller, v, bound, owner) : assign(caller, v, owner));
    }

    private Mono<VmView> assign(Caller caller, VmView vm, Owner owner) {
        return ownership.assign(vm.id(), owner.tenant(), caller.username())
                .onErrorMap(DataIntegrityViolationException.class, e -> new ResponseStatusException(
                        HttpStatus.UNPROCESSABLE_CONTENT, "no tenant '" + owner.tenant() + "'"))
                .then(audit.record(caller, owner.tenant(), "VM_OWNER_ASSIGNED", vm.id(), "ok", owner.tenant()))
                .then(fleet.get(caller, vm.id()));
    }

    /** A tenant's monitor reports {@code vm}: its tenant is its agent's, whatever an operator asks (audited). */
    private Mono<VmView> refuseAssignment(Caller caller, VmView vm, AgentBinding.Tenant bound, Owner owner) {
        String why = "VM " + vm.id() + " is reported by tenant " + bound.id() + "'s own agent, whose certificate binds "
                + "it to " + bound.id() + ": it cannot be assigned to " + owner.tenant();
        return audit.record(caller, bound.id(), "VM_OWNER_ASSIGNED", vm.id(), "denied", why)
                .then(Mono.error(new ResponseStatusException(HttpStatus.CONFLICT, why)));
    }

    @DeleteMapping("/api/v1/vms/{vm}/owner")
    @ResponseBody
    Mono<VmView> unassign(Caller caller, @PathVariable String vm) {
        requireOperator(caller);
        return fleet.get(caller, vm)
                .flatMap(v -> ownership.clear(v.id())
                        .then(audit.record(caller, v.tenant(), "VM_OWNER_CLEARED", v.id(), "ok",
                                "was " + v.tenant()))
                        .then(fleet.get(caller, v.id())));
    }

    private static void requireOperator(Caller caller) {
        if (!caller.isOperator()) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators assign VM owners");
        }
    }
}
