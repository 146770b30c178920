package dev.periscope.process;

import dev.periscope.account.Caller;
import dev.periscope.vm.Fleet;
import dev.periscope.vmi.AcquisitionMode;
import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseBody;
import reactor.core.publisher.Mono;

/** {@code /api/v1/vms/{vm}/processes} as JSON and {@code /vms/{vm}} as the dashboard's VM page. */
@Controller
class ProcessController {

    private final Fleet fleet;
    private final ProcessReader reader;

    ProcessController(Fleet fleet, ProcessReader reader) {
        this.fleet = fleet;
        this.reader = reader;
    }

    @GetMapping("/api/v1/vms/{vm}/processes")
    @ResponseBody
    Mono<ProcessListView> processes(Caller caller, @PathVariable String vm,
                                    @RequestParam(defaultValue = "snapshot") String mode) {
        AcquisitionMode acquisition = ProcessReader.parseMode(mode);
        return reader.read(caller, vm, acquisition, null);
    }

    @GetMapping("/vms/{vm}")
    String vmPage(Caller caller, @PathVariable String vm, @RequestParam(defaultValue = "snapshot") String mode,
                  Model model) {
        AcquisitionMode acquisition = ProcessReader.parseMode(mode);
        model.addAttribute("vm", fleet.get(caller, vm));
        model.addAttribute("list", reader.read(caller, vm, acquisition, null));
        return "vm";
    }
}
