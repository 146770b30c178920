package dev.periscope.bench.faults;

import java.util.Optional;

/** A fault done to the lab guest its repetitions share ({@link Stage#sharedVm()}); its losses are syscall events. */
abstract class SharedLabVmFault implements Fault {

    @Override
    public String lostUnit() {
        return "syscall events";
    }

    @Override
    public Optional<String> unavailable(Stage stage) {
        return stage.labUnavailable();
    }

    @Override
    public void prepare(Stage stage) {
        stage.sharedVm();
    }
}
