package dev.periscope.vmi.driver.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A lab guest for tests that need a real VM: started with lab/lab.sh, stopped on close. Tests call
 * {@link #assumeLabEnabled()} first so that {@code -Dperiscope.lab.skip=true} skips them cleanly.
 * Names must start with the prefix the test suite owns (e.g. "lxcore-") so parallel suites do not collide.
 */
public final class LabVm implements AutoCloseable {

    /** Output and exit code of a command run in the guest. */
    public record Result(int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    private final String name;
    private final Path varDir;
    private boolean stopped;

    private LabVm(String name, Path varDir) {
        this.name = name;
        this.varDir = varDir;
    }

    public static void assumeLabEnabled() {
        Assumptions.assumeFalse(Boolean.getBoolean("periscope.lab.skip"), "lab tests skipped (periscope.lab.skip)");
        Assumptions.assumeTrue(Files.isExecutable(labScript()), "no lab/lab.sh in " + repo());
    }

    /** Starts {@code name} with extra lab.sh start arguments (e.g. "--workload", "busy"); waits until it is up. */
    public static LabVm start(String name, String... arguments) {
        return startIn(varDir(), name, arguments);
    }

    /**
     * As {@link #start}, in the lab of another var directory (the lab of another host, in multi-host tests); its
     * kernel and image cache is the default lab's, shared.
     */
    public static LabVm startIn(Path varDir, String name, String... arguments) {
        shareCache(varDir);
        List<String> command = new ArrayList<>(List.of(labScript().toString(), "start", name));
        command.addAll(List.of(arguments));
        Result result = run(varDir, command, 300);
        if (!result.ok()) {
            // lab.sh may have failed after QEMU came up: never leave a guest behind.
            run(varDir, List.of(labScript().toString(), "stop", name), 60);
            throw new IllegalStateException("lab.sh start " + name + " failed (" + result.exitCode() + "):\n"
                    + result.output());
        }
        return new LabVm(name, varDir);
    }

    /** Links {@code varDir}'s cache to the default lab's: kernels and images are downloaded and built once. */
    private static void shareCache(Path varDir) {
        Path cache = varDir.resolve("cache");
        Path shared = varDir().resolve("cache");
        try {
            if (!Files.exists(cache) && !cache.equals(shared)) {
                Files.createDirectories(shared);
                Files.createDirectories(varDir);
                Files.createSymbolicLink(cache, shared.toAbsolutePath());
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot share the lab cache with " + varDir, e);
        }
    }

    public String name() {
        return name;
    }

    /** This VM's run directory ({@code <var>/lab/NAME}). */
    public Path runDir() {
        return varDir.resolve("lab").resolve(name);
    }

    /** The pid of this VM's QEMU, as lab.sh recorded it in meta.json. */
    public long qemuPid() {
        try {
            return LabMeta.read(runDir()).qemuPid();
        } catch (IOException e) {
            throw new IllegalStateException("no meta.json for " + name + " in " + runDir(), e);
        }
    }

    /** Whether this VM's QEMU runs. */
    public boolean running() {
        try {
            return LabMeta.read(runDir()).running();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Kills this VM's QEMU at once (SIGKILL: no monitor goodbye, no plugin exit); {@link #stop()} then removes what it
     * left behind. Returns once the process is gone.
     */
    public void killQemu() {
        long pid = qemuPid();
        ProcessHandle.of(pid).ifPresent(qemu -> {
            qemu.destroyForcibly();
            try {
                qemu.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("QEMU " + pid + " of " + name + " did not die", e);
            }
        });
    }

    /** Runs a command in the guest's test shell; never throws for a non-zero exit. */
    public Result exec(String... guestCommand) {
        List<String> command = new ArrayList<>(List.of(labScript().toString(), "exec", name, "--"));
        command.addAll(List.of(guestCommand));
        return run(varDir, command, 120);
    }

    /**
     * Runs a QEMU monitor command line (HMP, e.g. {@code dump-guest-memory FILE}) on the guest's QMP socket and
     * returns its output; {@code timeout} bounds it. No other client may hold the socket meanwhile.
     */
    public String monitor(String commandLine, Duration timeout) {
        try (QmpClient qmp = QmpClient.connect(LabMeta.read(varDir.resolve("lab").resolve(name)).qmpSocket(),
                timeout)) {
            return qmp.humanMonitor(commandLine);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + name + "'s lab metadata", e);
        }
    }

    public void stop() {
        if (!stopped) {
            stopped = true;
            run(varDir, List.of(labScript().toString(), "stop", name), 60);
        }
    }

    @Override
    public void close() {
        stop();
    }

    public static Path repo() {
        return Path.of(System.getProperty("periscope.repo", System.getProperty("user.dir") + "/.."));
    }

    /** The var directory lab.sh writes to (honours PERISCOPE_VAR like lab.sh). */
    public static Path varDir() {
        String env = System.getenv("PERISCOPE_VAR");
        return env != null && !env.isBlank() ? Path.of(env) : repo().resolve("var");
    }

    private static Path labScript() {
        return repo().resolve("lab/lab.sh");
    }

    private static Result run(Path varDir, List<String> command, int timeoutSeconds) {
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            builder.environment().put("PERISCOPE_VAR", varDir.toString());
            Process process = builder.start();
            process.getOutputStream().close();
            // Read before waiting so a chatty command cannot block on a full pipe.
            byte[][] bytes = new byte[1][];
            Thread output = Thread.ofVirtual().start(() -> {
                try {
                    bytes[0] = process.getInputStream().readAllBytes();
                } catch (IOException e) {
                    bytes[0] = new byte[0];
                }
            });
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + " timed out after " + timeoutSeconds + " s");
            }
            output.join();
            return new Result(process.exitValue(), new String(bytes[0], StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + command, e);
        }
    }
}
