package dev.periscope.bench;

import dev.periscope.agent.TlsFiles;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The control plane as it runs in production: its jar ({@code backend/target/periscope-server.jar}) in a JVM of its own,
 * with a var directory of its own, following agents over mutual TLS (the bench PKI's control-plane certificate), no
 * demo data, no embedded agent and no Xen lab. Measured from outside: resident memory from /proc, the Java heap with the
 * JDK's jstat and jcmd.
 */
final class ServerProcess implements AutoCloseable {

    private final Process process;
    private final Path var;
    private final String base;

    private ServerProcess(Process process, Path var, String base) {
        this.process = process;
        this.var = var;
        this.base = base;
    }

    /**
     * Starts {@code serverJar} on {@code port} with a heap of at most {@code maxHeap} (a JVM size such as 512m),
     * following the agents at {@code agents} (HOST:PORT,...), with {@code extra} arguments after the defaults.
     */
    static ServerProcess start(Path serverJar, Path pki, String agents, int port, String maxHeap, List<String> extra)
            throws IOException {
        Path var = Files.createTempDirectory("periscope-bench-server");
        List<String> command = new ArrayList<>(List.of(java("java"), "-Xmx" + maxHeap, "-jar", serverJar.toString(),
                "--server.port=" + port, "--periscope.var-dir=" + var, "--periscope.demo-data=false",
                "--periscope.fleet.embedded-agent.enabled=false", "--periscope.xen-lab.enabled=false",
                "--periscope.libvirt.enabled=false", "--periscope.fleet.agents=" + agents,
                "--periscope.fleet.tls.ca=" + pki.resolve("ca.pem"),
                "--periscope.fleet.tls.certificate=" + pki.resolve("control-plane.pem"),
                "--periscope.fleet.tls.private-key=" + pki.resolve("control-plane.key")));
        command.addAll(extra);
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(var.resolve("server.log").toFile()).start();
        return new ServerProcess(process, var, "http://127.0.0.1:" + port);
    }

    static TlsFiles tls(Path pki, String who) {
        return new TlsFiles(pki.resolve("ca.pem"), pki.resolve(who + ".pem"), pki.resolve(who + ".key"));
    }

    String base() {
        return base;
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    Path log() {
        return var.resolve("server.log");
    }

    /**
     * Waits (at most 120 s) until the server answers and lists {@code vm} (a fleet id, NAME@HOST); returns the bootstrap
     * operator's token it made.
     */
    String awaitVm(HttpClient http, String vm) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the server exited: " + Files.readString(log()));
            }
            Path token = var.resolve("operator.token");
            if (Files.isRegularFile(token)) {
                String t = Files.readString(token).strip();
                try {
                    HttpResponse<String> vms = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/vms"))
                            .timeout(Duration.ofSeconds(10)).header("Authorization", "Bearer " + t).GET().build(),
                            HttpResponse.BodyHandlers.ofString());
                    if (vms.statusCode() == 200 && vms.body().contains("\"" + vm + "\"")) {
                        return t;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("the server did not list " + vm + " within 120 s");
    }

    /**
     * Opens an M5 trace of pid {@code pid} in {@code vm} (a fleet id) for at most {@code seconds}, with no event limit
     * a benchmark could reach; returns the session's id.
     */
    String openTrace(HttpClient http, String token, String vm, int pid, int seconds)
            throws IOException, InterruptedException {
        HttpResponse<String> opened = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/sessions"))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"vm\":\"" + vm + "\",\"kind\":\"TRACE\",\"targetPid\":"
                        + pid + ",\"method\":\"M5\",\"maxDurationSeconds\":" + seconds + ",\"maxEvents\":100000000}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        if (opened.statusCode() != 201) {
            throw new IllegalStateException("opening the trace: " + opened.statusCode() + " " + opened.body());
        }
        Matcher id = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(opened.body());
        if (!id.find()) {
            throw new IllegalStateException("no session id in " + opened.body());
        }
        return id.group(1);
    }

    /** Resident memory in MiB (-1 once the process is gone). */
    double rssMib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            // the server is gone
        }
        return -1;
    }

    /** The Java heap in use now, in MiB (survivors, eden and old generation as jstat reports them). */
    double heapUsedMib() throws IOException, InterruptedException {
        String[] lines = tool("jstat", "-gc", Long.toString(process.pid())).strip().split("\n");
        String[] names = lines[0].strip().split("\\s+");
        String[] values = lines[lines.length - 1].strip().split("\\s+");
        double kib = 0;
        for (int i = 0; i < names.length && i < values.length; i++) {
            if (List.of("S0U", "S1U", "EU", "OU").contains(names[i])) {
                kib += Double.parseDouble(values[i]);
            }
        }
        return kib / 1024;
    }

    /** The live heap: a full collection ({@code jcmd GC.run}, a pause of the server) and what remains, in MiB. */
    double liveHeapMib() throws IOException, InterruptedException {
        tool("jcmd", Long.toString(process.pid()), "GC.run");
        return heapUsedMib();
    }

    private static String tool(String name, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(java(name)));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out);
        }
        return out;
    }

    private static String java(String tool) {
        return Path.of(System.getProperty("java.home"), "bin", tool).toString();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
