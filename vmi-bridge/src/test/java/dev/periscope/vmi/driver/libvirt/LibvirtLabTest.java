package dev.periscope.vmi.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.linux.GuestProcView;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.linux.RealKernels;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.vmi.trace.TraceRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The libvirt platform against a real libvirtd and real guests: domains defined with plain libvirt XML
 * ({@code <domain type='qemu'>}, TCG) that boot the lab's kernel and initramfs, with no Periscope settings in
 * them. Their process lists must equal what the guests' own /proc says (read through their test shell on a serial
 * port), with KASLR on, on two kernels:
 * <ul>
 *   <li>lvirt-big: 4 GiB (q35 splits it around the hole below 4 GiB), the default 6.1 kernel, anonymous RAM read
 *       through the QEMU process, QEMU running as root by its DAC label (so it may use userfaultfd: snapshots
 *       while the guest runs), owner from Periscope's metadata; destroyed mid-read at the end;</li>
 *   <li>lvirt-file: 512 MiB in a shared memory-backend file (read directly), 6.12, QEMU unprivileged as libvirt
 *       runs it by default, and its RAM a file on disk: QEMU refuses background snapshots, the capability is
 *       absent; a DIMM is hot-plugged into it while the engine is attached.</li>
 * </ul>
 * Boots two guests, shared by the ordered tests; skipped without root or with -Dperiscope.lab.skip=true.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LibvirtLabTest {

    private static final String BIG = "lvirt-big";
    private static final String FILE_BACKED = "lvirt-file";
    private static final String DEFINED_ONLY = "lvirt-defined";
    private static final long GIB = 1L << 30;
    /** Room for memory hot-plug: two DIMM slots, the boot memory in one NUMA cell (libvirt requires one). */
    private static final String HOTPLUG_SLOTS = "<maxMemory slots='2' unit='MiB'>1024</maxMemory>"
            + "<cpu><numa><cell id='0' cpus='0' memory='512' unit='MiB'/></numa></cpu>";

    private TestDomains domains;
    private LibvirtDriver driver;
    private VmiEngine engine;
    private final Map<String, GuestShell> shells = new HashMap<>();

    @BeforeAll
    void bootGuests() throws Exception {
        Libvirtd.assumeRunning();
        for (String name : List.of(BIG, FILE_BACKED, DEFINED_ONLY)) {
            TestDomains.discard(name);
        }
        domains = TestDomains.create();
        domains.defineAndStart(new TestDomains.Spec(BIG, 4096, "", "busy", """
                <metadata>
                  <periscope:owner xmlns:periscope="https://periscope.dev/libvirt/1" tenant="acme"/>
                </metadata>""" + TestDomains.ROOT_QEMU));
        domains.start(new TestDomains.Spec(FILE_BACKED, 512, RealKernels.K612, "busy", HOTPLUG_SLOTS
                + TestDomains.SHARED_FILE_RAM));
        for (String name : List.of(BIG, FILE_BACKED)) {
            GuestShell shell = new GuestShell(domains.shellSocket(name));
            shell.awaitReady(Duration.ofSeconds(240));
            shells.put(name, shell);
        }
        driver = new LibvirtDriver(LibvirtConfig.system());
        engine = new VmiEngine(driver);
    }

    @AfterAll
    void discardGuests() {
        if (engine != null) {
            engine.close();
        }
        if (driver != null) {
            driver.close();
        }
        if (domains != null) {
            for (String name : List.of(BIG, FILE_BACKED, DEFINED_ONLY)) {
                TestDomains.discard(name);
            }
            domains.close();
        }
    }

    @Test
    @Order(1)
    void listsDomainsAsLibvirtDefinesStartsAndUndefinesThem() throws Exception {
        LibvirtGuest big = driver.guest(BIG).orElseThrow();
        assertThat(big.uuid()).isEqualTo(Virsh.run("domuuid", BIG).orThrow().output());
        assertThat(big.state()).isEqualTo(LibvirtState.RUNNING);
        assertThat(big.memoryBytes()).isEqualTo(4 * GIB);
        assertThat(big.vcpus()).isEqualTo(1);
        assertThat(big.tenant()).as("owner from Periscope's metadata").isEqualTo("acme");
        assertThat(big.startedAt()).isNotNull();
        LibvirtGuest file = driver.guest(FILE_BACKED).orElseThrow();
        assertThat(file.tenant()).as("no metadata: an operator assigns the owner").isEmpty();
        assertThat(file.memoryBytes()).isEqualTo(512L << 20);
        assertThat(driver.domains()).anySatisfy(d -> {
            assertThat(d.name()).isEqualTo(BIG);
            assertThat(d.platform()).isEqualTo("libvirt");
            assertThat(d.running()).isTrue();
        });

        Path xml = domains.prepare(new TestDomains.Spec(DEFINED_ONLY, 256, "", "idle", ""));
        Virsh.run("define", xml.toString()).orThrow();
        assertThat(driver.domain(DEFINED_ONLY)).hasValueSatisfying(d -> assertThat(d.running()).isFalse());
        assertThat(driver.capabilities(DEFINED_ONLY)).isEmpty();
        assertThatThrownBy(() -> driver.open(DEFINED_ONLY)).isInstanceOf(VmGoneException.class);
        Virsh.run("undefine", DEFINED_ONLY).orThrow();
        assertThat(driver.domain(DEFINED_ONLY)).isEmpty();
        assertThat(driver.domains()).noneSatisfy(d -> assertThat(d.name()).isEqualTo(DEFINED_ONLY));
        assertThatThrownBy(() -> driver.open("lvirt-no-such")).isInstanceOf(VmGoneException.class);

        // QEMU as root may use userfaultfd; unprivileged, with RAM in a file on disk, it refuses background snapshots.
        assertThat(driver.capabilities(BIG)).contains(Capability.READ_MEMORY, Capability.PAUSE_RESUME,
                Capability.COW_SNAPSHOT).doesNotContain(Capability.CR3_EVENTS);
        assertThat(driver.capabilities(FILE_BACKED)).contains(Capability.READ_MEMORY, Capability.PAUSE_RESUME)
                .doesNotContain(Capability.COW_SNAPSHOT, Capability.CR3_EVENTS);
    }

    @Test
    @Order(2)
    void fourGibGuestThroughTheQemuProcessListsAsItsProcSaysAndSnapshotsWhileItRuns() throws Exception {
        try (LibvirtDomain domain = (LibvirtDomain) driver.open(BIG)) {
            assertThat(domain.currentRam().directBlocks()).as("anonymous RAM: read through the process").isEmpty();
            assertThat(domain.currentRam().layout().limit()).as("2 GiB at 0, 2 GiB from 4 GiB").isEqualTo(6 * GIB);
        }
        KernelProfile profile = engine.profile(BIG);
        System.out.printf("[%s] %s%n", BIG, profile.summary());
        compareModes(BIG, List.of(AcquisitionMode.SNAPSHOT, AcquisitionMode.PAUSE, AcquisitionMode.LIVE));
        ProcessList paused = engine.processes(BIG, AcquisitionMode.PAUSE);
        assertThat(paused.consistent()).isTrue();
        assertThat(paused.guestDowntime()).as("pause downtime reported").isPositive();
        assertThat(Virsh.run("domstate", BIG).orThrow().output()).as("resumed after the list").isEqualTo("running");
        assertThat(paused.processes()).as("page tables above the 4 GiB hole were walked")
                .anySatisfy(p -> assertThat(p.cr3()).isGreaterThanOrEqualTo(4 * GIB));
        ProcessList snapshot = engine.processes(BIG, AcquisitionMode.SNAPSHOT);
        assertThat(snapshot.consistent()).isTrue();
        assertThat(Virsh.run("domstate", BIG).orThrow().output()).isEqualTo("running");
        assertThat(Virsh.run("qemu-monitor-command", BIG, "{\"execute\":\"query-fdsets\"}").orThrow()
                .output()).as("the snapshot's fd set was removed again").doesNotContain("periscope:");
        String uuid = driver.guest(BIG).orElseThrow().uuid();
        try (Stream<Path> left = Files.list(LibvirtConfig.system().snapshotDir())) {
            assertThat(left.map(p -> p.getFileName().toString())).as("snapshot files are deleted")
                    .noneMatch(n -> n.startsWith("periscope-" + uuid));
        }
        assertThatThrownBy(() -> engine.trace(BIG, TraceRequest.process("busy-writer").withMethod(TraceMethod.M4)))
                .isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("libvirt domains have no hypervisor event channel");
    }

    @Test
    @Order(3)
    void fileBackedGuestIsReadStraightFromItsFile() throws Exception {
        try (LibvirtDomain domain = (LibvirtDomain) driver.open(FILE_BACKED)) {
            assertThat(domain.currentRam().directBlocks()).as("the shared memory-backend file, mapped here")
                    .hasSize(1).allSatisfy((block, file) -> assertThat(file).startsWith(Path.of("/var/lib/libvirt/qemu/ram")));
            System.out.printf("[%s] %s%n", FILE_BACKED, domain.currentRam());
            assertThatThrownBy(domain::snapshot).isInstanceOf(PlatformUnavailableException.class)
                    .hasMessageContaining("copy-on-write");
        }
        System.out.printf("[%s] %s%n", FILE_BACKED, engine.profile(FILE_BACKED).summary());
        compareModes(FILE_BACKED, List.of(AcquisitionMode.PAUSE, AcquisitionMode.LIVE));
        assertThatThrownBy(() -> engine.processes(FILE_BACKED, AcquisitionMode.SNAPSHOT))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("copy-on-write");
    }

    /** Memory plugged while the engine is attached: the layout is read again, with the new block. */
    @Test
    @Order(4)
    void memoryHotPluggedIntoAnAttachedDomainIsLaidOutAgain() throws Exception {
        Path dimm = domains.dir(FILE_BACKED).resolve("dimm.xml");
        Files.writeString(dimm, "<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target>"
                + "</memory>");
        Virsh.run("attach-device", FILE_BACKED, dimm.toString(), "--live").orThrow();
        assertThat(driver.guest(FILE_BACKED).orElseThrow().memoryBytes()).isEqualTo(640L << 20);
        compareModes(FILE_BACKED, List.of(AcquisitionMode.LIVE)); // through the engine's earlier attachment
        try (LibvirtDomain domain = (LibvirtDomain) driver.open(FILE_BACKED)) {
            var layout = domain.currentRam().layout();
            System.out.printf("[%s] after hot-plug: %s%n", FILE_BACKED, layout);
            assertThat(layout.ramBytes()).isEqualTo(640L << 20);
            assertThat(layout.blocks()).hasSize(2);
            assertThat(domain.currentRam().directBlocks()).hasSize(2);
            assertThat(layout.limit()).as("the DIMM sits above 4 GiB").isGreaterThan(4 * GIB);
        }
    }

    @Test
    @Order(5)
    void aDomainDestroyedMidReadIsGoneNotAHang() throws Exception {
        try (Domain domain = driver.open(BIG)) {
            PhysicalMemory memory = domain.memory();
            CompletableFuture<Throwable> reader = CompletableFuture.supplyAsync(() -> {
                byte[] chunk = new byte[1 << 20];
                try {
                    for (int round = 0; round < 100; round++) {
                        for (long at = 0; at + chunk.length <= 2 * GIB; at += chunk.length) {
                            memory.read(at, chunk, 0, chunk.length);
                        }
                    }
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            });
            Thread.sleep(1000);
            assertThat(reader).as("still reading when the domain is destroyed").isNotDone();
            long destroyed = System.nanoTime();
            Virsh.run("destroy", BIG).orThrow();
            Throwable failure = reader.get(30, TimeUnit.SECONDS);
            System.out.printf("[%s] reader failed %.1f ms after destroy returned: %s%n", BIG,
                    (System.nanoTime() - destroyed) / 1e6, failure);
            assertThat(failure).isInstanceOf(VmGoneException.class);
            assertThatThrownBy(() -> domain.registers(0)).isInstanceOf(VmGoneException.class);
        }
        assertThatThrownBy(() -> engine.processes(BIG, AcquisitionMode.LIVE)).isInstanceOf(VmGoneException.class);
        assertThat(driver.domain(BIG)).hasValueSatisfying(d -> assertThat(d.running()).isFalse());
    }

    /** Each mode's list against two readings of the guest's /proc taken around it. */
    private void compareModes(String vm, List<AcquisitionMode> modes) throws IOException {
        for (AcquisitionMode mode : modes) {
            Map<Integer, GuestProcView.Seen> before = guestView(vm);
            long t0 = System.nanoTime();
            ProcessList list = engine.processes(vm, mode);
            long ns = System.nanoTime() - t0;
            Map<Integer, GuestProcView.Seen> after = guestView(vm);
            int compared = GuestProcView.compare(vm, mode, before, after, list);
            System.out.printf("[%s] %s: %d processes (%d compared) in %.1f ms, read %.2f ms, downtime %.2f ms%n", vm,
                    mode, list.processes().size(), compared, ns / 1e6, list.readTime().toNanos() / 1e6,
                    list.guestDowntime().toNanos() / 1e6);
        }
    }

    private Map<Integer, GuestProcView.Seen> guestView(String vm) throws IOException {
        GuestShell.Result view = shells.get(vm).exec(GuestProcView.SCRIPT, Duration.ofSeconds(60));
        assertThat(view.exitCode()).as("guest /proc reading failed: %s", view.errors()).isZero();
        return GuestProcView.parse(view.output());
    }
}
