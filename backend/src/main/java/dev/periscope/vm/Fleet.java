package dev.periscope.vm;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.http.HttpStatus;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/** The VMs the engine's drivers report, read on the engine scheduler. Unknown names are 404s. */
@Component
public class Fleet {

    private final VmiEngine engine;
    private final Scheduler engineReads;

    Fleet(VmiEngine engine, Scheduler engineReads) {
        this.engine = engine;
        this.engineReads = engineReads;
    }

    Flux<VmView> all() {
        return Mono.fromCallable(() -> engine.domains().stream()
                        .sorted(Comparator.comparing(DomainInfo::name))
                        .map(info -> VmView.of(info, capabilities(info)))
                        .toList())
                .subscribeOn(engineReads)
                .flatMapIterable(List::copyOf);
    }

    /** The VM named {@code name}, or a 404 problem. */
    public Mono<VmView> get(String name) {
        return Mono.fromCallable(() -> engine.domain(name)
                        .map(info -> VmView.of(info, capabilities(info)))
                        .orElseThrow(() -> new ResponseStatusException(HttpStatus.NOT_FOUND, "no VM named '" + name + "'")))
                .subscribeOn(engineReads);
    }

    private Set<Capability> capabilities(DomainInfo info) {
        return info.running() ? engine.capabilities(info.name()) : Set.of();
    }
}
