package dev.periscope.process;

import dev.periscope.caller.Caller;
import dev.periscope.system.DashboardPage;
import dev.periscope.tenant.Tenants;
import dev.periscope.vm.Fleet;
import dev.periscope.vm.VmState;
import dev.periscope.vm.VmView;
import dev.periscope.vmi.AcquisitionMode;
import java.util.List;
import java.util.Locale;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Mono;

/**
 * {@code /vms/{vm}}: the dashboard's VM page (with, for operators, the form that assigns its owner), and {@code /vms/{vm}/process-table}, the process table alone, which
 * the page fetches again on the interval the user picks. A list that cannot be read is shown as an error in the
 * page (with the reason), not as an error page.
 */
@DashboardPage
class VmPage {

    private final Fleet fleet;
    private final ProcessReader reader;
    private final Tenants tenants;

    VmPage(Fleet fleet, ProcessReader reader, Tenants tenants) {
        this.fleet = fleet;
        this.reader = reader;
        this.tenants = tenants;
    }

    /** A process list, or why there is none. */
    record Loaded(ProcessListView list, String error) {
    }

    /** Without a mode asked for, the most consistent one the VM's platform offers ({@link VmView#mostConsistentMode()}). */
    @GetMapping("/vms/{vm}")
    String page(Caller caller, @PathVariable String vm, @RequestParam(required = false) String mode, Model model) {
        Mono<VmView> view = fleet.get(caller, vm).cache();
        Mono<String> chosen = view.map(v -> mode != null ? mode : bestMode(v)).cache();
        model.addAttribute("vm", view);
        model.addAttribute("mode", chosen);
        model.addAttribute("loaded", view.zipWith(chosen).flatMap(t -> load(caller, t.getT1(), t.getT2())));
        // Operators assign the VM's owner on the page (the register step of a memory image, too).
        model.addAttribute("tenants", caller.isOperator() ? tenants.all().collectList() : Mono.just(List.of()));
        return "vm";
    }

    @GetMapping("/vms/{vm}/process-table")
    String table(Caller caller, @PathVariable String vm, @RequestParam(required = false) String mode, Model model) {
        Mono<VmView> view = fleet.get(caller, vm).cache();
        model.addAttribute("vm", view);
        model.addAttribute("loaded", view.flatMap(v -> load(caller, v, mode != null ? mode : bestMode(v))));
        return "vm :: processes";
    }

    /** The mode the page shows when none is asked for, as the API spells it. */
    static String bestMode(VmView vm) {
        return vm.mostConsistentMode().name().toLowerCase(Locale.ROOT);
    }

    private Mono<Loaded> load(Caller caller, VmView vm, String mode) {
        if (vm.state() == VmState.UNREACHABLE) {
            return Mono.just(new Loaded(null, "The agent of host " + vm.host() + " is unreachable: nothing can be read "
                    + "from this VM until it answers again."));
        }
        if (!vm.running()) {
            return Mono.just(new Loaded(null, "The VM is stopped: there is no memory to read."));
        }
        AcquisitionMode acquisition;
        try {
            acquisition = ProcessReader.parseMode(mode);
        } catch (ResponseStatusException e) {
            return Mono.just(new Loaded(null, e.getReason()));
        }
        return reader.read(caller, vm.id(), acquisition, null)
                .map(list -> new Loaded(list, null))
                .onErrorResume(e -> Mono.just(new Loaded(null, "The process list could not be read: "
                        + (e instanceof ResponseStatusException r && r.getReason() != null ? r.getReason() : e.getMessage()))));
    }
}
