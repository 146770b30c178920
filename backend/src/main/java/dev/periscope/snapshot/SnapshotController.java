package dev.periscope.snapshot;

import dev.periscope.caller.Caller;
import dev.periscope.process.ProcessListView;
import dev.periscope.process.ProcessReader;
import dev.periscope.vmi.AcquisitionMode;
import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * {@code POST /api/v1/vms/{vm}/snapshots}: takes a copy-on-write snapshot (the guest keeps running) and returns
 * the process list read from it. The snapshot itself is released once read.
 */
@RestController
class SnapshotController {

    private final ProcessReader reader;

    SnapshotController(ProcessReader reader) {
        this.reader = reader;
    }

    @PostMapping("/api/v1/vms/{vm}/snapshots")
    @ResponseStatus(HttpStatus.CREATED)
    Mono<ProcessListView> take(Caller caller, @PathVariable String vm) {
        return reader.read(caller, vm, AcquisitionMode.SNAPSHOT, null);
    }
}
