package dev.periscope.vm;

import dev.periscope.account.Caller;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The VMs the engine's drivers report (read on the engine scheduler), each owned by the tenant an operator
 * assigned or else the one its platform labels it with. Scoped: a tenant's caller sees only its tenant's VMs,
 * and any other name is a 404, exactly as for a VM that does not exist.
 */
@Component
public class Fleet {

    private final VmiEngine engine;
    private final Scheduler engineReads;
    private final VmOwnership ownership;

    Fleet(VmiEngine engine, Scheduler engineReads, VmOwnership ownership) {
        this.engine = engine;
        this.engineReads = engineReads;
        this.ownership = ownership;
    }

    /** Every VM with its owner, for operators and the policy renderer. */
    public Flux<VmView> all() {
        return ownership.overrides().flatMapMany(owners -> Mono.fromCallable(() -> engine.domains().stream()
                        .sorted(Comparator.comparing(DomainInfo::name))
                        .map(info -> view(info, owners))
                        .toList())
                .subscribeOn(engineReads)
                .flatMapIterable(List::copyOf));
    }

    /** The VMs {@code caller} may see. */
    public Flux<VmView> visible(Caller caller) {
        return all().filter(vm -> caller.sees(vm.tenant()));
    }

    /** The VM named {@code name} if {@code caller} may see it, or a 404 problem. */
    public Mono<VmView> get(Caller caller, String name) {
        return find(name).filter(vm -> caller.sees(vm.tenant())).switchIfEmpty(notFound(name));
    }

    /** The VM named {@code name} whoever asks, empty when there is none. */
    public Mono<VmView> find(String name) {
        return ownership.overrides().flatMap(owners -> Mono.fromCallable(() -> engine.domain(name)
                        .map(info -> view(info, owners)))
                .subscribeOn(engineReads)
                .flatMap(Mono::justOrEmpty));
    }

    public static <T> Mono<T> notFound(String name) {
        return Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no VM named '" + name + "'"));
    }

    private VmView view(DomainInfo info, Map<String, String> owners) {
        Set<Capability> capabilities = info.running() ? engine.capabilities(info.name()) : Set.of();
        return VmView.of(info, owners.getOrDefault(info.name(), info.tenant()), capabilities);
    }
}
