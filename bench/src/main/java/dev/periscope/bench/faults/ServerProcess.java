package dev.periscope.bench.faults;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The control plane as it runs in production: {@code periscope-server.jar} in a JVM of its own, on a port, over a var
 * directory (its H2 database or PostgreSQL, its bootstrap token), its log appended to {@code server.log} there. It
 * can be started again over the same directory after it was killed.
 */
final class ServerProcess implements AutoCloseable {

    /** How long a start may take (a loaded machine needs minutes). */
    private static final Duration START = Duration.ofMinutes(5);

    private final Path jar;
    private final Path var;
    private final int port;
    private final List<String> arguments;
    private final Map<String, String> environment;
    private Process process;
    private Api api;

    ServerProcess(Path jar, Path var, int port, List<String> arguments, Map<String, String> environment) {
        this.jar = jar;
        this.var = var;
        this.port = port;
        this.arguments = List.copyOf(arguments);
        this.environment = Map.copyOf(environment);
    }

    /** Starts it and waits until it answers its health check (and wrote its operator token). */
    void start() {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                        .toString(), "-Xmx512m", "-XX:NativeMemoryTracking=summary", "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(),
                "--server.port=" + port, "--periscope.var-dir=" + var));
        command.addAll(arguments);
        try {
            Files.createDirectories(var);
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(var.resolve("server.log").toFile()));
            builder.environment().putAll(environment);
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the server", e);
        }
        long deadline = System.nanoTime() + START.toNanos();
        Path token = var.resolve("operator.token");
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the server exited while starting; see " + var.resolve("server.log"));
            }
            if (Files.isRegularFile(token)) {
                try {
                    api = new Api("http://127.0.0.1:" + port, Files.readString(token).strip());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                if (api.get("/actuator/health", Duration.ofSeconds(5)).status() == 200) {
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the server did not answer within " + START.toSeconds() + " s; see "
                        + var.resolve("server.log"));
            }
            Commands.sleep(Duration.ofMillis(300));
        }
    }

    Api api() {
        return api;
    }

    long pid() {
        return process.pid();
    }

    Path var() {
        return var;
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no shutdown hook, no goodbye on any connection. */
    void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        if (process == null || !process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                kill();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill();
        }
    }
}
