package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.libvirt.LibvirtConfig;
import dev.periscope.vmi.driver.libvirt.LibvirtDriver;
import dev.periscope.vmi.driver.libvirt.GuestShell;
import dev.periscope.vmi.driver.libvirt.TestDomains;
import dev.periscope.vmi.driver.libvirt.Virsh;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The libvirt platform end to end, in one run against two libvirt domains that differ only in where their RAM is:
 * {@code bench-lv-proc} (anonymous RAM, read through the QEMU process with /proc/PID/mem; QEMU as root so that it
 * may take background snapshots) and {@code bench-lv-file} (a shared memory-backend file, mapped directly: the
 * baseline). Same kernel, memory size and busy workload, and 40 % of each guest's RAM filled with random data
 * (a tmpfs file), so that reads meet real pages rather than zero pages. Measures:
 * <ol>
 *   <li>guest RAM read throughput, sequential, in 64 KiB and 4 KiB reads, through each path;</li>
 *   <li>process-list latency, warm: the walk alone ({@link LinuxModel#processes}) and through {@link VmiEngine}
 *       LIVE (which adds libvirt's look-ups and the layout check);</li>
 *   <li>what each acquisition mode costs the guest: LIVE nothing; PAUSE the suspend-to-resume downtime (libvirt);
 *       SNAPSHOT QEMU's background-snapshot downtime (bench-lv-proc only: the file-backed domain has none).</li>
 * </ol>
 * Defines, boots and discards the domains itself (root, libvirt running). Usage: {@code java
 * --enable-native-access=ALL-UNNAMED -cp benchmarks.jar dev.periscope.bench.LibvirtEndToEnd [--memory MIB]
 * [--passes N] [--lists N] [--pause-runs N] [--snapshot-runs N] [--out FILE.json]}; bench/libvirt.sh runs it.
 */
public final class LibvirtEndToEnd {

    private static final String PROCESS_PATH = "bench-lv-proc";
    private static final String FILE_PATH = "bench-lv-file";

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Stats.args(argv);
        int memoryMib = Integer.parseInt(a.getOrDefault("memory", "512"));
        int passes = Integer.parseInt(a.getOrDefault("passes", "5"));
        int lists = Integer.parseInt(a.getOrDefault("lists", "200"));
        int pauseRuns = Integer.parseInt(a.getOrDefault("pause-runs", "50"));
        int snapshotRuns = Integer.parseInt(a.getOrDefault("snapshot-runs", "20"));
        int fillMib = memoryMib * 2 / 5; // a tmpfs holds at most half of RAM
        Path out = Path.of(a.getOrDefault("out", "libvirt-e2e.json"));
        if (Virsh.run("version").exitCode() != 0) {
            throw new IllegalStateException("no libvirt answers on qemu:///system (run as root with libvirtd up)");
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("memoryMib", memoryMib);
        result.put("guestDataMib", fillMib);
        for (String name : List.of(PROCESS_PATH, FILE_PATH)) {
            TestDomains.discard(name);
        }
        try (TestDomains domains = TestDomains.create();
             LibvirtDriver driver = new LibvirtDriver(LibvirtConfig.system());
             VmiEngine engine = new VmiEngine(driver)) {
            domains.start(new TestDomains.Spec(PROCESS_PATH, memoryMib, "", "busy", TestDomains.ROOT_QEMU));
            domains.start(new TestDomains.Spec(FILE_PATH, memoryMib, "", "busy", TestDomains.SHARED_FILE_RAM));
            for (String vm : List.of(PROCESS_PATH, FILE_PATH)) {
                awaitWorkload(engine, vm);
                // RAM the guest uses holds data: fill a tmpfs with random bytes (untouched RAM reads as zero pages)
                GuestShell.Result fill = new GuestShell(domains.shellSocket(vm))
                        .exec("dd if=/dev/urandom of=/tmp/fill bs=1M count=" + fillMib, Duration.ofSeconds(300));
                if (fill.exitCode() != 0) {
                    throw new IllegalStateException(vm + ": filling guest RAM failed (" + fill.exitCode() + "): " + fill.errors());
                }
            }
            System.out.printf("both guests run their workload; %s can snapshot: %s%n", PROCESS_PATH,
                    driver.capabilities(PROCESS_PATH).contains(Capability.COW_SNAPSHOT));
            for (String vm : List.of(PROCESS_PATH, FILE_PATH)) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("path", vm.equals(PROCESS_PATH) ? "QEMU process (/proc/PID/mem)" : "shared file (mmap)");
                try (Domain domain = driver.open(vm)) {
                    PhysicalMemory memory = domain.memory();
                    long dataPages = dataPages(memory);
                    r.put("dataMib", dataPages * 4096 / (1 << 20));
                    System.out.printf("%s: %d MiB of its RAM hold data (pages not all zero)%n", vm,
                            dataPages * 4096 / (1 << 20));
                    for (int chunk : new int[] {64 * 1024, 4096}) {
                        List<Double> gbps = new ArrayList<>();
                        readAll(memory, chunk); // warm-up
                        for (int i = 0; i < passes; i++) {
                            long t0 = System.nanoTime();
                            long bytes = readAll(memory, chunk);
                            gbps.add(bytes / (double) (System.nanoTime() - t0));
                        }
                        Map<String, Object> summary = Stats.summary(gbps);
                        r.put("readGBps" + chunk / 1024 + "k", summary);
                        System.out.printf(Locale.ROOT, "%-44s n=%-4d min=%7.2f p50=%7.2f max=%7.2f GB/s%n",
                                vm + " RAM read, " + chunk / 1024 + " KiB reads", passes, summary.get("min"),
                                summary.get("p50"), summary.get("max"));
                    }
                    KernelProfile profile = LinuxModel.profile(memory, new KernelProfileCache());
                    Map<String, Object> walk = Stats.summary(times(lists, () -> LinuxModel.processes(memory, profile)));
                    r.put("walkMs", walk);
                    System.out.println(Stats.line(vm + " process list, walk alone (ms)", walk));
                }
                Map<String, Object> live = Stats.summary(times(lists, () -> engine.processes(vm, AcquisitionMode.LIVE)));
                r.put("engineLiveMs", live);
                System.out.println(Stats.line(vm + " process list, engine LIVE (ms)", live));
                r.put("processes", engine.processes(vm, AcquisitionMode.LIVE).processes().size());
                r.put("pause", costs(engine, vm, AcquisitionMode.PAUSE, pauseRuns));
                if (driver.capabilities(vm).contains(Capability.COW_SNAPSHOT)) {
                    r.put("snapshot", costs(engine, vm, AcquisitionMode.SNAPSHOT, snapshotRuns));
                }
                result.put(vm, r);
            }
        } finally {
            for (String name : List.of(PROCESS_PATH, FILE_PATH)) {
                TestDomains.discard(name);
            }
        }
        Stats.writeJson(out, result);
        System.out.println("wrote " + out);
    }

    /** Waits until the guest's workload runs (its busy-writer is in the process list). */
    private static void awaitWorkload(VmiEngine engine, String vm) throws InterruptedException {
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (System.nanoTime() < deadline) {
            try {
                if (engine.processes(vm, AcquisitionMode.LIVE).processes().stream()
                        .anyMatch(p -> p.name().equals("busy-writer"))) {
                    return;
                }
            } catch (RuntimeException booting) {
                // no kernel in memory yet
            }
            Thread.sleep(2000);
        }
        throw new IllegalStateException(vm + " did not start its workload within 300 s");
    }

    /** Guest downtime and wall time of {@code runs} process lists in {@code mode}. */
    private static Map<String, Object> costs(VmiEngine engine, String vm, AcquisitionMode mode, int runs)
            throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            engine.processes(vm, mode); // warm-up
        }
        List<Double> downtime = new ArrayList<>(), wall = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            ProcessList list = engine.processes(vm, mode);
            wall.add(Stats.ms(System.nanoTime() - t0));
            downtime.add(list.guestDowntime().toNanos() / 1e6);
            Thread.sleep(100); // let the guest run between acquisitions
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("guestDowntimeMs", Stats.summary(downtime));
        r.put("wallMs", Stats.summary(wall));
        System.out.println(Stats.line(vm + " " + mode + " guest downtime (ms)", Stats.summary(downtime)));
        System.out.println(Stats.line(vm + " " + mode + " wall (ms)", Stats.summary(wall)));
        return r;
    }

    private static List<Double> times(int n, Runnable action) {
        for (int i = 0; i < Math.min(20, n); i++) {
            action.run(); // warm-up
        }
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            action.run();
            ms.add(Stats.ms(System.nanoTime() - t0));
        }
        return ms;
    }

    /** Pages of guest RAM that are not all zero (what a read copies from real pages, not the zero page). */
    private static long dataPages(PhysicalMemory memory) {
        byte[] page = new byte[4096];
        byte[] zero = new byte[4096];
        long pages = 0;
        for (long at = 0; at + page.length <= memory.size(); at += page.length) {
            try {
                memory.read(at, page, 0, page.length);
                pages += Arrays.equals(page, zero) ? 0 : 1;
            } catch (PageNotPresentException hole) {
                // not RAM
            }
        }
        return pages;
    }

    /** Reads all guest RAM in {@code chunk}-byte reads, holes skipped; returns the bytes read. */
    private static long readAll(PhysicalMemory memory, int chunk) {
        byte[] buffer = new byte[chunk];
        long bytes = 0;
        for (long at = 0; at + chunk <= memory.size(); at += chunk) {
            try {
                memory.read(at, buffer, 0, chunk);
                bytes += chunk;
            } catch (PageNotPresentException hole) {
                // MMIO or firmware, not RAM
            }
        }
        return bytes;
    }
}
