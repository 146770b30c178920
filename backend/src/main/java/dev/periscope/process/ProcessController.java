package dev.periscope.process;

import dev.periscope.caller.Caller;
import dev.periscope.vmi.AcquisitionMode;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseBody;
import reactor.core.publisher.Mono;

/**
 * {@code /api/v1/vms/{vm}/processes} as JSON (the dashboard's VM page is {@link VmPage}); without {@code mode}, the
 * most consistent mode the VM's platform offers, as the VM page chooses it.
 */
@Controller
class ProcessController {

    private final ProcessReader reader;

    ProcessController(ProcessReader reader) {
        this.reader = reader;
    }

    @GetMapping("/api/v1/vms/{vm}/processes")
    @ResponseBody
    Mono<ProcessListView> processes(Caller caller, @PathVariable String vm,
                                    @RequestParam(required = false) String mode) {
        AcquisitionMode acquisition = mode == null ? null : ProcessReader.parseMode(mode);
        return reader.read(caller, vm, acquisition, null);
    }
}
