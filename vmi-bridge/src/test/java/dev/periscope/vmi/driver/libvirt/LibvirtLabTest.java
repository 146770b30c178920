package dev.periscope.vmi.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.linux.GuestProcView;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.linux.RealKernels;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.vmi.trace.TraceRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
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
 *       absent.</li>
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

    private Path work;
    private LibvirtDriver driver;
    private VmiEngine engine;
    private final Map<String, GuestShell> shells = new HashMap<>();

    @BeforeAll
    void bootGuests() throws Exception {
        Libvirtd.assumeRunning();
        for (String name : List.of(BIG, FILE_BACKED, DEFINED_ONLY)) {
            discard(name);
        }
        work = Files.createTempDirectory("periscope-libvirt-test");
        // QEMU runs as libvirt-qemu: it must reach the kernels in here
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path initramfs = labInitramfs();
        Path kernel61 = kernel("");
        Path kernel612 = kernel(RealKernels.K612);
        Path big = domainDir(BIG, kernel61, initramfs);
        Path file = domainDir(FILE_BACKED, kernel612, initramfs);
        Files.writeString(big.resolve("domain.xml"), domainXml(BIG, 4096, big, """
                <metadata>
                  <periscope:owner xmlns:periscope="https://periscope.dev/libvirt/1" tenant="acme"/>
                </metadata>""", "<seclabel type='static' model='dac' relabel='yes'><label>+0:+0</label></seclabel>"));
        Libvirtd.virsh("define", big.resolve("domain.xml").toString()).orThrow();
        Libvirtd.virsh("start", BIG).orThrow();
        Files.writeString(file.resolve("domain.xml"), domainXml(FILE_BACKED, 512, file,
                "<memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>", ""));
        Libvirtd.virsh("create", file.resolve("domain.xml").toString()).orThrow();
        for (String name : List.of(BIG, FILE_BACKED)) {
            GuestShell shell = new GuestShell(work.resolve(name).resolve("shell.sock"));
            shell.awaitReady(Duration.ofSeconds(240));
            shells.put(name, shell);
        }
        driver = new LibvirtDriver(LibvirtConfig.system());
        engine = new VmiEngine(driver);
    }

    @AfterAll
    void discardGuests() throws Exception {
        if (engine != null) {
            engine.close();
        }
        if (driver != null) {
            driver.close();
        }
        for (String name : List.of(BIG, FILE_BACKED, DEFINED_ONLY)) {
            discard(name);
        }
        if (work != null) {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    @Order(1)
    void listsDomainsAsLibvirtDefinesStartsAndUndefinesThem() throws Exception {
        LibvirtGuest big = driver.guest(BIG).orElseThrow();
        assertThat(big.uuid()).isEqualTo(Libvirtd.virsh("domuuid", BIG).orThrow().output());
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

        Path defined = work.resolve(DEFINED_ONLY);
        Files.createDirectories(defined);
        Files.writeString(defined.resolve("domain.xml"), domainXml(DEFINED_ONLY, 256, defined, "", "")
                .replaceAll("<kernel>.*</kernel>\\s*<initrd>.*</initrd>", ""));
        Libvirtd.virsh("define", defined.resolve("domain.xml").toString()).orThrow();
        assertThat(driver.domain(DEFINED_ONLY)).hasValueSatisfying(d -> assertThat(d.running()).isFalse());
        assertThat(driver.capabilities(DEFINED_ONLY)).isEmpty();
        assertThatThrownBy(() -> driver.open(DEFINED_ONLY)).isInstanceOf(VmGoneException.class);
        Libvirtd.virsh("undefine", DEFINED_ONLY).orThrow();
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
        assertThat(Libvirtd.virsh("domstate", BIG).orThrow().output()).as("resumed after the list").isEqualTo("running");
        assertThat(paused.processes()).as("page tables above the 4 GiB hole were walked")
                .anySatisfy(p -> assertThat(p.cr3()).isGreaterThanOrEqualTo(4 * GIB));
        ProcessList snapshot = engine.processes(BIG, AcquisitionMode.SNAPSHOT);
        assertThat(snapshot.consistent()).isTrue();
        assertThat(Libvirtd.virsh("domstate", BIG).orThrow().output()).isEqualTo("running");
        assertThat(Libvirtd.virsh("qemu-monitor-command", BIG, "{\"execute\":\"query-fdsets\"}").orThrow()
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
                    .containsKey("pc.ram");
            System.out.printf("[%s] %s%n", FILE_BACKED, domain.currentRam());
            assertThatThrownBy(domain::snapshot).isInstanceOf(PlatformUnavailableException.class)
                    .hasMessageContaining("copy-on-write");
        }
        System.out.printf("[%s] %s%n", FILE_BACKED, engine.profile(FILE_BACKED).summary());
        compareModes(FILE_BACKED, List.of(AcquisitionMode.PAUSE, AcquisitionMode.LIVE));
        assertThatThrownBy(() -> engine.processes(FILE_BACKED, AcquisitionMode.SNAPSHOT))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("copy-on-write");
    }

    @Test
    @Order(4)
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
            Libvirtd.virsh("destroy", BIG).orThrow();
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

    /**
     * A plain libvirt definition booting the lab's kernel and initramfs: TCG, q35, the console on a file and the
     * guest's test shell (ttyS1) on a unix socket.
     */
    private static String domainXml(String name, int memoryMib, Path dir, String extra, String seclabel) {
        return """
                <domain type='qemu'>
                  <name>%1$s</name>
                  <memory unit='MiB'>%2$d</memory>
                  <vcpu>1</vcpu>
                  %4$s
                  <os>
                    <type arch='x86_64' machine='q35'>hvm</type>
                    <kernel>%3$s/vmlinuz</kernel>
                    <initrd>%3$s/initrd.img</initrd>
                    <cmdline>console=ttyS0 panic=-1 quiet periscope.name=%1$s periscope.workload=busy</cmdline>
                  </os>
                  <features><acpi/><apic/></features>
                  <on_poweroff>destroy</on_poweroff>
                  <on_reboot>destroy</on_reboot>
                  <on_crash>destroy</on_crash>
                  <devices>
                    <serial type='file'><source path='%3$s/console.log'/><target port='0'/></serial>
                    <serial type='unix'><source mode='bind' path='%3$s/shell.sock'/><target port='1'/></serial>
                  </devices>
                  %5$s
                </domain>
                """.formatted(name, memoryMib, dir, extra, seclabel);
    }

    /**
     * A directory with the domain's own copies of kernel and initramfs: libvirt relabels the files a domain
     * boots from to its QEMU's user, so two domains with different users cannot share them (nor the lab's cache).
     */
    private Path domainDir(String name, Path kernel, Path initramfs) throws IOException {
        Path dir = Files.createDirectories(work.resolve(name));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.copy(kernel, dir.resolve("vmlinuz"));
        Files.copy(initramfs, dir.resolve("initrd.img"));
        return dir;
    }

    /** The lab's kernel of a package ("" = the default), downloaded into the lab cache by lab.sh if needed. */
    private static Path kernel(String kernelPackage) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(LabVm.repo().resolve("lab/lab.sh").toString(),
                "kernel-path"));
        if (!kernelPackage.isEmpty()) {
            command.addAll(List.of("--kernel-package", kernelPackage));
        }
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String path = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("lab.sh kernel-path " + kernelPackage + " failed");
        }
        return Path.of(path);
    }

    /**
     * The lab's initramfs from its cache (lab.sh builds it when it starts a VM and keeps only the current one):
     * when no lab VM ran here yet, a small one is started once to build it.
     */
    private static Path labInitramfs() throws IOException {
        Path cache = LabVm.varDir().resolve("cache/initramfs");
        if (newest(cache) == null) {
            LabVm.start("lvirt-seed", "--memory", "128").close();
        }
        Path image = newest(cache);
        if (image == null) {
            throw new IllegalStateException("no lab initramfs in " + cache + " after starting a lab VM");
        }
        return image;
    }

    private static Path newest(Path cache) throws IOException {
        if (!Files.isDirectory(cache)) {
            return null;
        }
        try (Stream<Path> images = Files.list(cache)) {
            return images.filter(p -> p.getFileName().toString().matches("base-[0-9a-f]+\\.cpio\\.gz"))
                    .max(Comparator.comparing(p -> p.toFile().lastModified())).orElse(null);
        }
    }

    /** Destroys and undefines a test domain, whatever state it is in. */
    private static void discard(String name) throws IOException, InterruptedException {
        Libvirtd.virsh("destroy", name);
        Libvirtd.virsh("undefine", name);
    }
}
