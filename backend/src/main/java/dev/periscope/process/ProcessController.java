package dev.periscope.process;

import dev.periscope.vm.Fleet;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import java.util.Arrays;
import java.util.Locale;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseBody;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/** {@code /api/v1/vms/{vm}/processes} as JSON and {@code /vms/{vm}} as the dashboard's VM page. */
@Controller
class ProcessController {

    private final Fleet fleet;
    private final VmiEngine engine;
    private final Scheduler engineReads;

    ProcessController(Fleet fleet, VmiEngine engine, Scheduler engineReads) {
        this.fleet = fleet;
        this.engine = engine;
        this.engineReads = engineReads;
    }

    @GetMapping("/api/v1/vms/{vm}/processes")
    @ResponseBody
    Mono<ProcessListView> processes(@PathVariable String vm, @RequestParam(defaultValue = "snapshot") String mode) {
        return processList(vm, mode);
    }

    @GetMapping("/vms/{vm}")
    String vmPage(@PathVariable String vm, @RequestParam(defaultValue = "snapshot") String mode, Model model) {
        model.addAttribute("vm", fleet.get(vm));
        model.addAttribute("list", processList(vm, mode));
        return "vm";
    }

    private Mono<ProcessListView> processList(String vm, String mode) {
        AcquisitionMode acquisition = parseMode(mode);
        return fleet.get(vm)
                .then(Mono.fromCallable(() -> ProcessListView.of(engine.processes(vm, acquisition)))
                        .subscribeOn(engineReads));
    }

    private static AcquisitionMode parseMode(String mode) {
        try {
            return AcquisitionMode.valueOf(mode.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException unknown) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "mode must be one of "
                    + Arrays.stream(AcquisitionMode.values()).map(m -> m.name().toLowerCase(Locale.ROOT)).toList()
                    + ", not '" + mode + "'");
        }
    }
}
