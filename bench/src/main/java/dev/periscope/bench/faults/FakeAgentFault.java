package dev.periscope.bench.faults;

import java.util.List;
import java.util.Optional;

/**
 * A fault done through the stage's server over the fake agent's synthetic guests: it runs anywhere (no lab guest), and
 * the server is the process that lives through its repetitions.
 */
abstract class FakeAgentFault implements Fault {

    @Override
    public Optional<String> unavailable(Stage stage) {
        return Optional.empty();
    }

    @Override
    public void prepare(Stage stage) {
        stage.server();
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("server", stage.server().pid()));
    }
}
