package dev.periscope.bench.faults;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The fault suite's short form, with the tests: every fault once against the real parts (lab guests, the agent's and
 * the server's jars as processes, PostgreSQL in Docker, a tmpfs), each a test of its own; a fault that cannot run here
 * (lab tests skipped, no Docker, not root) is skipped with the reason. {@code ./periscope bench faults} runs each 100
 * times and writes the table of docs/RELIABILITY.md.
 */
class FaultsTest {

    private static Stage stage;
    private static final List<FaultResult> RESULTS = new ArrayList<>();

    @BeforeAll
    static void stage() throws IOException {
        stage = new Stage(FaultSuite.repo(), Files.createTempDirectory("periscope-faults-"),
                !Boolean.getBoolean("periscope.lab.skip"), System.nanoTime(), 1);
    }

    @AfterAll
    static void close() {
        if (stage != null) {
            stage.close();
        }
        System.out.println(FaultSuite.table(RESULTS));
    }

    @TestFactory
    Stream<DynamicTest> everyFaultOnce() {
        return FaultSuite.faults().stream().map(fault -> DynamicTest.dynamicTest(fault.name(), () -> {
            var unavailable = fault.unavailable(stage);
            Assumptions.assumeTrue(unavailable.isEmpty(), () -> fault.name() + ": " + unavailable.orElse(""));
            FaultResult result = FaultSuite.run(stage, fault, 1);
            RESULTS.add(result);
            assertThat(result.violations()).as(fault.description()).isEmpty();
        }));
    }
}
