package dev.periscope.bench.faults;

import dev.periscope.agent.FakeAgent;
import dev.periscope.agent.TlsFiles;
import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import tools.jackson.databind.JsonNode;

/**
 * Where the faults happen: a work directory, the certificates of the agent API, a lab of the suite's own (its VMs are
 * named {@code flt-*}), and, each started on first use, the real agent over that lab ({@value #HOST}, a JVM of its
 * own, mutual TLS on loopback), a fake agent in this JVM for traces at set rates ({@value #FAKE_HOST}: the real
 * agent-side sessions over a synthetic guest's real ring) and the control plane's jar over both.
 */
final class Stage implements AutoCloseable {

    static final String HOST = "flt-host";
    static final String FAKE_HOST = "flt-fake";
    /** The fake agent's VMs, one per fault that uses it. */
    static final List<String> FAKE_VMS = List.of("flt-ring", "flt-slow", "flt-db", "flt-disk", "flt-end");
    static final int DISK_MIB = 256;
    static final int RESERVE_MIB = 32;

    final Path work;
    final Path pki;
    final Path labVar;
    final Path serverJar;
    final Path agentJar;
    final Random random;
    final boolean lab;
    /** Repetitions of each fault, and whether this is the short form (shorter runs where a fault has a length). */
    final int repetitions;
    final boolean quick;
    private final String shmPrefix;
    private AgentProcess agent;
    private FakeAgent fake;
    private ServerProcess server;
    private Path serverDisk;
    private LabVm sharedVm;
    private final List<AutoCloseable> extras = new ArrayList<>();

    /**
     * @param repo  the repository (lab/lab.sh, agent/certs.sh, the built jars)
     * @param work  a directory of the suite's own
     * @param lab   whether faults that boot lab guests may run
     * @param seed  the seed of every random choice (kill delays), printed with the results
     * @param repetitions of each fault
     */
    Stage(Path repo, Path work, boolean lab, long seed, int repetitions) {
        this.work = work;
        this.pki = work.resolve("pki");
        this.labVar = work.resolve("lab-var");
        this.serverJar = repo.resolve("backend/target/periscope-server.jar");
        this.agentJar = repo.resolve("agent/target/periscope-agent.jar");
        this.random = new Random(seed);
        this.lab = lab;
        this.repetitions = repetitions;
        this.quick = repetitions < 10;
        for (Path jar : List.of(serverJar, agentJar)) {
            if (!Files.isRegularFile(jar)) {
                throw new IllegalStateException("no " + jar + ": build first (./mvnw -DskipTests package)");
            }
        }
        try {
            Files.createDirectories(labVar);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Commands.check(Duration.ofSeconds(60), "bash", repo.resolve("agent/certs.sh").toString(), pki.toString(),
                "--agent", HOST, "--agent", FAKE_HOST);
        // lab.sh names /dev/shm files after a checksum of its lab directory (lab/lab.sh, LAB_ID)
        String sum = Commands.check(Duration.ofSeconds(10), "sh", "-c", "printf '%s' \"$1\" | cksum", "sh",
                labVar.resolve("lab").toString());
        this.shmPrefix = "periscope-" + sum.strip().split("\\s+")[0] + "-";
    }

    /** The prefix of the lab's files in {@code /dev/shm} (RAM and rings of the suite's VMs). */
    String shmPrefix() {
        return shmPrefix;
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private TlsFiles tls(String who) {
        return new TlsFiles(pki.resolve("ca.pem"), pki.resolve(who + ".pem"), pki.resolve(who + ".key"));
    }

    /** The real agent over the suite's lab, started on first use. */
    synchronized AgentProcess agent() {
        if (agent == null) {
            agent = new AgentProcess(agentJar, HOST, freePort(), labVar, pki, work);
            agent.start();
        }
        return agent;
    }

    /** Why a fault on lab guests cannot run here, when the lab is off; empty when it can. */
    Optional<String> labUnavailable() {
        return lab ? Optional.empty() : Optional.of("lab guests are off (periscope.lab.skip)");
    }

    /** The fake agent (in this JVM, mutual TLS on loopback), started on first use. */
    synchronized FakeAgent fake() {
        if (fake == null) {
            fake = FakeAgent.overTls(FAKE_HOST, new InetSocketAddress("127.0.0.1", 0), tls("agent-" + FAKE_HOST));
            fake.vms(FAKE_VMS.stream().map(vm -> FakeAgent.vm(vm, "faults", true, 512)).toArray(
                    dev.periscope.agent.api.Domain[]::new));
        }
        return fake;
    }

    /** The arguments of a control plane over {@code agents} with the suite's certificates. */
    List<String> serverArguments(String... agents) {
        return new ArrayList<>(List.of("--periscope.fleet.embedded-agent.enabled=false",
                "--periscope.xen-lab.enabled=false", "--periscope.libvirt.enabled=false",
                "--periscope.demo-data=false", "--periscope.fleet.agents=" + String.join(",", agents),
                "--periscope.fleet.tls.ca=" + pki.resolve("ca.pem"),
                "--periscope.fleet.tls.certificate=" + pki.resolve("control-plane.pem"),
                "--periscope.fleet.tls.private-key=" + pki.resolve("control-plane.key")));
    }

    /**
     * The control plane over the real agent (when the lab is on) and the fake one, H2 in its var directory: on a
     * tmpfs of {@value #DISK_MIB} MiB of its own when this runs as root (the disk the full-disk fault fills), else in
     * the work directory. The archive leaves {@value #RESERVE_MIB} MiB of that disk to the database.
     */
    synchronized ServerProcess server() {
        if (server == null) {
            List<String> agents = new ArrayList<>();
            if (lab) {
                agents.add(agent().address());
            }
            agents.add("127.0.0.1:" + fake().port());
            List<String> args = serverArguments(agents.toArray(String[]::new));
            args.add("--periscope.archive.disk-reserve=" + RESERVE_MIB + "MB");
            server = new ServerProcess(serverJar, serverDisk().resolve("var"), freePort(), args, Map.of());
            server.start();
        }
        return server;
    }

    /** The server's disk: a tmpfs mounted here when root (unmounted on close, its log kept), else a directory. */
    private Path serverDisk() {
        Path dir = work.resolve("server-disk");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (Commands.root()) {
            Commands.check(Duration.ofSeconds(30), "mount", "-t", "tmpfs", "-o", "size=" + DISK_MIB + "m", "tmpfs",
                    dir.toString());
            serverDisk = dir;
        }
        return dir;
    }

    /** The tmpfs under the server's database, when there is one. */
    Optional<Path> serverTmpfs() {
        server();
        return Optional.ofNullable(serverDisk);
    }

    Api api() {
        return server().api();
    }

    /** Something to close with the stage (a second server, a container, a mount). */
    synchronized void closeLater(AutoCloseable c) {
        extras.add(c);
    }

    /** Boots a lab guest of the suite (the busy workload, 256 MiB) and waits until the control plane lists it. */
    LabVm boot(String name) {
        LabVm vm = LabVm.startIn(labVar, name, "--workload", "busy", "--memory", "256");
        try {
            awaitRunning(vmId(vm));
        } catch (RuntimeException e) {
            vm.stop();
            throw e;
        }
        return vm;
    }

    /** One guest the agent and server faults share (they end its sessions, never the guest). */
    synchronized LabVm sharedVm() {
        if (sharedVm == null) {
            sharedVm = boot("flt-shared");
        }
        return sharedVm;
    }

    static String vmId(LabVm vm) {
        return vm.name() + "@" + HOST;
    }

    void awaitRunning(String vmId) {
        if (!Api.await(Duration.ofSeconds(90), () -> api().vm(vmId), v -> "RUNNING".equals(v.path("state")
                .asString("")))) {
            throw new IllegalStateException(vmId + " is not listed as running: " + api().vm(vmId));
        }
    }

    /** The VM's event ring, mapped here to read its counters and what it traps; the caller closes it. */
    static EventRing ring(LabVm vm) {
        try {
            JsonNode meta = Api.JSON.readTree(Files.readString(vm.runDir().resolve("meta.json")));
            RingToken token = RingToken.parse(Files.readString(Path.of(meta.path("ringTokenFile").asString()))
                    .strip());
            return EventRing.open(Path.of(meta.path("ringPath").asString()), token);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void close() {
        List<AutoCloseable> all = new ArrayList<>(extras.reversed());
        all.add(server);
        all.add(sharedVm);
        all.add(agent);
        all.add(fake);
        for (AutoCloseable c : all) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    System.err.println("faults: closing " + c + ": " + e);
                }
            }
        }
        if (serverDisk != null) {
            try {
                Path log = serverDisk.resolve("var/server.log");
                if (Files.exists(log)) { // kept with the suite's other logs; the tmpfs goes
                    Files.copy(log, work.resolve("server.log"));
                }
            } catch (IOException e) {
                System.err.println("faults: keeping the server's log: " + e);
            }
            Commands.run(Duration.ofSeconds(30), "umount", "-l", serverDisk.toString());
        }
    }
}
