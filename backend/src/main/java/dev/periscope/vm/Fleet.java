package dev.periscope.vm;

import dev.periscope.caller.Caller;
import dev.periscope.fleet.AgentBinding;
import dev.periscope.fleet.Agents;
import dev.periscope.fleet.HostedVm;
import dev.periscope.fleet.VmId;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The VMs of every host the agents report (their latest watch updates: listing the fleet calls no agent), each owned
 * by the tenant its agent's certificate binds the agent to (a tenant's monitor), else the tenant an operator assigned,
 * else the one its platform labels it with. A VM is named {@code name@host};
 * a bare name is accepted where exactly one visible VM has it. Scoped: a tenant's caller sees only its tenant's VMs,
 * and any other name is a 404, exactly as for a VM that does not exist.
 */
@Component
public class Fleet {

    private final Agents agents;
    private final VmOwnership ownership;

    Fleet(Agents agents, VmOwnership ownership) {
        this.agents = agents;
        this.ownership = ownership;
    }

    /** Every VM with its owner, for operators and the policy renderer. */
    public Flux<VmView> all() {
        return ownership.overrides().flatMapIterable(owners -> agents.vms().stream().map(v -> view(v, owners)).toList());
    }

    /** The VMs {@code caller} may see. */
    public Flux<VmView> visible(Caller caller) {
        return all().filter(vm -> caller.sees(vm.tenant()));
    }

    /**
     * The VM {@code ref} ({@code name@host}, or a bare name that exactly one VM the caller sees has) if {@code caller}
     * may see it; a 404 problem otherwise, and a 409 listing the candidates when a bare name is ambiguous.
     */
    public Mono<VmView> get(Caller caller, String ref) {
        return visible(caller).filter(vm -> matches(vm, ref)).collectList().flatMap(found -> switch (found.size()) {
            case 0 -> notFound(ref);
            case 1 -> Mono.just(found.getFirst());
            default -> Mono.error(new ResponseStatusException(HttpStatus.CONFLICT, "'" + ref + "' names "
                    + found.size() + " VMs: " + String.join(", ", found.stream().map(VmView::id).toList())
                    + "; name one as VM@HOST"));
        });
    }

    /** The VM {@code ref} whoever asks, empty when there is none (or the bare name is ambiguous). */
    public Mono<VmView> find(String ref) {
        return all().filter(vm -> matches(vm, ref)).collectList()
                .flatMap(found -> found.size() == 1 ? Mono.just(found.getFirst()) : Mono.empty());
    }

    private static boolean matches(VmView vm, String ref) {
        return VmId.parse(ref).map(id -> id.toString().equals(vm.id())).orElse(vm.name().equals(ref));
    }

    public static <T> Mono<T> notFound(String name) {
        return Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no VM named '" + name + "'"));
    }

    /** A tenant's monitor fixes its VMs' tenant; otherwise an operator's assignment, else the platform's label. */
    private static VmView view(HostedVm vm, Map<String, String> owners) {
        String tenant = switch (vm.binding()) {
            case AgentBinding.Tenant bound -> bound.id();
            case AgentBinding.Unbound unbound -> owners.getOrDefault(vm.id().toString(), vm.info().tenant());
        };
        return VmView.of(vm, tenant);
    }

    /** What the agent reporting {@code vm} is bound to (unbound when its host has gone meanwhile). */
    AgentBinding binding(VmView vm) {
        return agents.vm(new VmId(vm.name(), vm.host())).map(HostedVm::binding).orElse(AgentBinding.UNBOUND);
    }
}
