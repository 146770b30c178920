package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.xen.XenDomain;
import dev.periscope.vmi.driver.xen.XenDriver;
import dev.periscope.vmi.driver.xen.XenMonitor;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingEventKind;
import dev.periscope.vmi.ring.RingMode;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The CR3 pre-filter of xen-extensions patch 0001 on a live Xen domain, run inside dom0 of the Xen lab: finds a
 * process of the guest with the engine, then runs Xen's vm_event monitor for the same time twice, unfiltered (every
 * CR3 write of the guest reaches dom0) and filtered in Xen by the process's CR3, and prints per phase what reached
 * the ring (CR3 writes that switch to or away from the process, and others) and the monitor's counters, among them
 * how many CR3 writes Xen suppressed.
 *
 * <p>Usage, in dom0 (FLASK must let dom0 use vm_event on the guest): {@code java --enable-native-access=ALL-UNNAMED
 * -Djava.library.path=/opt/periscope/lib -cp benchmarks.jar dev.periscope.bench.XenCr3Filter --vm NAME
 * --process NAME [--seconds S]}. One line per phase: {@code phase P seconds S requests R records N suppressed X
 * target T other O}.
 */
public final class XenCr3Filter {

    public static void main(String[] argv) throws IOException, InterruptedException {
        Map<String, String> a = Stats.args(argv);
        String vm = a.get("vm");
        String process = a.get("process");
        if (vm == null || process == null) {
            throw new IllegalArgumentException("--vm NAME and --process NAME are required");
        }
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "10"));

        try (XenDriver driver = new XenDriver(); VmiEngine engine = new VmiEngine(driver)) {
            GuestProcess target = engine.processes(vm, AcquisitionMode.LIVE).processes().stream()
                    .filter(p -> p.name().equals(process)).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no process " + process + " in " + vm));
            System.out.printf("target %s pid %d cr3 0x%x%n", process, target.pid(), target.cr3());
            Path dir = Files.createTempDirectory("periscope-cr3");
            try (XenDomain domain = driver.open(vm)) {
                // probed on attach: the domain, not the driver, knows what the hypervisor offers
                if (!domain.capabilities().contains(Capability.HYPERVISOR_CR3_FILTER)) {
                    throw new IllegalStateException(vm + " offers no CR3 pre-filter: " + domain.capabilities()
                            + " (a hypervisor without patch 0001, or FLASK refused the probe)");
                }
                phase("unfiltered", domain, dir, RingControl.off().withModes(RingMode.CR3), target.cr3(), seconds);
                phase("filtered", domain, dir, RingControl.off().withModes(RingMode.CR3, RingMode.CR3_FILTER)
                        .withDtbs(List.of(target.cr3())), target.cr3(), seconds);
            }
        }
    }

    private static void phase(String name, XenDomain domain, Path dir, RingControl control, long targetCr3,
                              int seconds) throws InterruptedException {
        RingToken token = RingToken.random();
        long[] target = {0};
        long[] other = {0};
        try (EventRing ring = EventRing.create(dir.resolve(name + ".ring"), domain.vcpuCount(), 4096, token)) {
            ring.configure(control);
            XenMonitor.Stats stats;
            try (XenMonitor monitor = domain.startMonitor(ring.path(), token)) {
                long end = System.nanoTime() + seconds * 1_000_000_000L;
                while (System.nanoTime() < end) {
                    ring.drainTo(e -> {
                        if (e.kind() != RingEventKind.CR3_WRITE) {
                            return;
                        }
                        boolean toOrFrom = sameTable(e.newCr3(), targetCr3) || sameTable(e.oldCr3(), targetCr3);
                        (toOrFrom ? target : other)[0]++;
                    }, 1024);
                    Thread.sleep(10);
                }
                stats = monitor.stats();
            }
            System.out.printf("phase %s seconds %d requests %d records %d suppressed %d target %d other %d%n", name,
                    seconds, stats.requests(), stats.records(), stats.hypervisorSuppressed(), target[0], other[0]);
        }
    }

    /** The same page table: CR3 without the PCID and flag bits (the low 12). */
    private static boolean sameTable(long cr3, long table) {
        return (cr3 & ~0xfffL) == (table & ~0xfffL);
    }
}
