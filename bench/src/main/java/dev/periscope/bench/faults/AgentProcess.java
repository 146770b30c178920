package dev.periscope.bench.faults;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A host's agent as it runs in production: {@code periscope-agent.jar} in a JVM of its own, serving the lab under
 * {@code labVar} over mutual TLS on a loopback port, with its certificate from {@code pki}; its log appended to
 * {@code agent.log} in {@code logDir}. It can be killed, frozen (SIGSTOP) and started again.
 */
final class AgentProcess implements AutoCloseable {

    private final Path jar;
    private final String host;
    private final int port;
    private final Path labVar;
    private final Path pki;
    private final Path log;
    private Process process;

    AgentProcess(Path jar, String host, int port, Path labVar, Path pki, Path logDir) {
        this.jar = jar;
        this.host = host;
        this.port = port;
        this.labVar = labVar;
        this.pki = pki;
        this.log = logDir.resolve("agent.log");
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    String host() {
        return host;
    }

    /** Starts it and waits until it listens. */
    void start() {
        try {
            long logged = Files.exists(log) ? Files.size(log) : 0;
            process = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(), "--host=" + host,
                    "--xen=off", "--libvirt=off", "--lab-dir=" + labVar, "--listen=" + address(),
                    "--orphan-timeout=20s", "--tls-ca=" + pki.resolve("ca.pem"),
                    "--tls-cert=" + pki.resolve("agent-" + host + ".pem"),
                    "--tls-key=" + pki.resolve("agent-" + host + ".key")))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (!since(logged).contains("periscope-agent: ready")) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("the agent did not start; see " + log);
                }
                Commands.sleep(Duration.ofMillis(200));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the agent", e);
        }
    }

    private String since(long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        return new String(all, (int) Math.min(offset, all.length), (int) Math.max(0, all.length - offset),
                StandardCharsets.UTF_8);
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no goodbye on any stream, nothing disarmed. */
    void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Freezes (SIGSTOP) or thaws (SIGCONT) the whole JVM: its ring threads answer nothing meanwhile. */
    void freeze(boolean frozen) {
        Commands.signal(pid(), frozen ? "STOP" : "CONT");
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            Commands.signal(pid(), "CONT"); // a frozen JVM cannot stop
            process.destroy();
            try {
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    kill();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                kill();
            }
        }
    }
}
