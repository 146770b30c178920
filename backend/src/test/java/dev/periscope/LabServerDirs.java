package dev.periscope;

import dev.periscope.system.WebSliceConfiguration;
import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.test.context.DynamicPropertyRegistry;

/**
 * Directories of a whole-application test against real lab guests: the server gets a var directory of its own
 * (database, bootstrap credentials, demo users) and sees the shared lab's VMs through periscope.lab-var-dir, so
 * a test run never touches the database or the credentials of a {@code ./periscope up} running beside it.
 */
public final class LabServerDirs {

    private static final Path VAR = WebSliceConfiguration.newVarDir();

    private LabServerDirs() {
    }

    public static void register(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
        registry.add("periscope.lab-var-dir", () -> LabVm.varDir().toString());
    }

    public static String operatorToken() {
        return read("operator.token");
    }

    public static String operatorPassword() {
        return read("operator.password");
    }

    private static String read(String file) {
        try {
            return Files.readString(VAR.resolve(file)).strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
