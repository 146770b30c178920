package dev.periscope;

import dev.periscope.vmi.driver.lab.LabVm;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A hypervisor host of a multi-host test: a network namespace of its own (10.77.N.2, reached from the test's namespace
 * over a veth pair at 10.77.N.1), a lab of its own (its own var directory, one VM running the busy workload) and
 * Periscope's agent running inside the namespace as a separate process over that lab, with its certificate from
 * {@code pki}. The namespace, the VM and the agent go away on {@link #close()}.
 */
final class AgentHost implements AutoCloseable {

    static final int PORT = 7443;

    private final int n;
    private final String host;
    private final Path pki;
    private final Path var;
    private final LabVm vm;
    private Process agent;

    private AgentHost(int n, String host, Path pki, Path var, LabVm vm) {
        this.n = n;
        this.host = host;
        this.pki = pki;
        this.var = var;
        this.vm = vm;
    }

    /** The agent API's address of host {@code n}. */
    static String address(int n) {
        return "10.77." + n + ".2:" + PORT;
    }

    private String namespace() {
        return "pfl-" + n;
    }

    /** Makes the namespace, boots {@code vmName} (tenant {@code tenant}) in the host's own lab, starts the agent. */
    static AgentHost start(int n, String host, String vmName, String tenant, Path pki) throws IOException {
        Path var = Files.createTempDirectory("periscope-host-" + host + "-");
        String ns = "pfl-" + n;
        run("ip", "netns", "del", ns); // a namespace an earlier, killed run left behind
        run("ip", "link", "del", ns + "-h");
        check("ip", "netns", "add", ns);
        check("ip", "link", "add", ns + "-h", "type", "veth", "peer", "name", ns + "-n");
        check("ip", "link", "set", ns + "-n", "netns", ns);
        check("ip", "addr", "add", "10.77." + n + ".1/30", "dev", ns + "-h");
        check("ip", "link", "set", ns + "-h", "up");
        check("ip", "netns", "exec", ns, "ip", "addr", "add", "10.77." + n + ".2/30", "dev", ns + "-n");
        check("ip", "netns", "exec", ns, "ip", "link", "set", ns + "-n", "up");
        check("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
        LabVm vm = LabVm.startIn(var, vmName, "--tenant", tenant, "--workload", "busy");
        AgentHost h = new AgentHost(n, host, pki, var, vm);
        h.startAgent();
        return h;
    }

    String vmId() {
        return vm.name() + "@" + host;
    }

    /** Starts (or starts again) the agent process inside the namespace; returns once it listens. */
    void startAgent() throws IOException {
        Path jar = LabVm.repo().resolve("agent/target/periscope-agent.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("no " + jar + ": build the agent first (./mvnw package -pl agent -am)");
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = var.resolve("agent.log");
        agent = new ProcessBuilder("ip", "netns", "exec", namespace(), java, "--enable-native-access=ALL-UNNAMED",
                "-jar", jar.toString(), "--host=" + host, "--xen=off", "--libvirt=off", "--lab-dir=" + var,
                "--listen=" + address(n), "--orphan-timeout=20s",
                "--tls-ca=" + pki.resolve("ca.pem"), "--tls-cert=" + pki.resolve("agent-" + host + ".pem"),
                "--tls-key=" + pki.resolve("agent-" + host + ".key"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!Files.readString(log, StandardCharsets.UTF_8).contains("periscope-agent: ready")) {
            if (!agent.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("the agent of " + host + " did not start:\n" + Files.readString(log));
            }
            sleep(200);
        }
    }

    /** Kills the agent process at once (SIGKILL: no goodbye on any stream). */
    void killAgent() throws InterruptedException {
        // ip netns exec runs the JVM as its child: kill the whole tree
        agent.descendants().forEach(ProcessHandle::destroyForcibly);
        agent.destroyForcibly();
        agent.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * Cuts the host off the network, or restores it: its end of the veth pair goes down, so packets to it vanish
     * without an answer (no reset, no error: the control plane sees only silence), as with a failed switch port.
     */
    void cutOff(boolean off) {
        check("ip", "netns", "exec", namespace(), "ip", "link", "set", namespace() + "-n", off ? "down" : "up");
    }

    /** The guest's own view: every pid in its /proc with that process's comm. */
    Map<Integer, String> guestProcesses() {
        LabVm.Result r = vm.exec("sh", "-c", "for p in /proc/[0-9]*; do c=$(cat $p/comm 2>/dev/null) && echo \"${p#/proc/} $c\"; done");
        if (!r.ok()) {
            throw new IllegalStateException("/proc of " + vm.name() + ": " + r.output());
        }
        Map<Integer, String> processes = new HashMap<>();
        r.output().lines().map(String::strip).filter(l -> !l.isEmpty()).forEach(l -> {
            int space = l.indexOf(' ');
            processes.put(Integer.parseInt(l.substring(0, space)), l.substring(space + 1));
        });
        return processes;
    }

    @Override
    public void close() {
        try {
            if (agent != null) {
                killAgent();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        vm.close();
        run("ip", "netns", "del", namespace());
        run("ip", "link", "del", namespace() + "-h");
    }

    private static void check(String... command) {
        int rc = run(command);
        if (rc != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + rc + ")");
        }
    }

    private static int run(String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true)
                    .redirectOutput(new File("/dev/null")).start();
            return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
