package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Real lab guests with the lab's test modules ({@link LabModules}), on the two kernels the tests use:
 * <ul>
 *   <li>names: every process's name equals the guest's own {@code /proc/PID/comm}, kernel threads with long names
 *       and workqueue workers (and a reclaim workqueue's rescuer) included;</li>
 *   <li>the hostile corpus on the guest's real memory: the RAM is dumped (paused) into the cache, its process list
 *       checked against /proc, and every lab-image case of {@link HostileCases} run on it;</li>
 *   <li>DKOM: a process unlinked from the task list by a kernel module stays alive, and the engine finds it in the
 *       PID table and flags it hidden, in every acquisition mode.</li>
 * </ul>
 * Boots guests named lxhostile-*; skipped with -Dperiscope.lab.skip=true.
 */
class HostileLabTest {

    private static final String PROC_COMM = "for d in /proc/[0-9]*; do c=$(cat $d/comm 2>/dev/null) && "
            + "echo \"${d#/proc/}|$c\"; done; true";

    @Test
    void kernel61() throws Exception {
        check("lxhostile-61", RealKernels.DEFAULT);
    }

    @Test
    void kernel612() throws Exception {
        check("lxhostile-612", RealKernels.K612);
    }

    private static void check(String vm, String kernelPackage) throws Exception {
        LabVm.assumeLabEnabled();
        Path modules = LabModules.build(kernelPackage);
        Path workload = LabModules.workload(modules, Path.of("target", vm + "-workload.sh"));
        List<String> args = new ArrayList<>(List.of("--workload", workload.toString()));
        if (!kernelPackage.isEmpty()) {
            args.addAll(List.of("--kernel-package", kernelPackage));
        }
        try (LabVm guest = LabVm.start(vm, args.toArray(String[]::new));
             LabDriver driver = new LabDriver(LabVm.varDir())) {
            LabModules.awaitReady(guest);
            LabVm.Result loaded = guest.exec("sh", "-c", "insmod " + LabModules.DIR + "/periscope_names.ko && sleep 1");
            assertThat(loaded.exitCode()).as("insmod periscope_names: %s", loaded.output()).isZero();

            corpusOnTheDump(vm, guest, driver);

            try (VmiEngine engine = new VmiEngine(driver)) {
                names(vm, guest, engine);
                dkom(vm, guest, engine);
            }
        }
    }

    /** Every pid whose /proc/PID/comm did not change between two readings around the list: the names must agree. */
    private static void names(String vm, LabVm guest, VmiEngine engine) {
        for (AcquisitionMode mode : List.of(AcquisitionMode.SNAPSHOT, AcquisitionMode.PAUSE)) {
            List<GuestProcess> processes = new ArrayList<>();
            int compared = consistently(vm + " " + mode, guest, () -> {
                processes.clear();
                processes.addAll(engine.processes(vm, mode, ThreadDetail.FULL).processes());
                return processes;
            });
            long different = processes.stream().filter(p -> !p.name().equals(p.comm())).count();
            System.out.printf("[%s] names %s: %d of %d processes compared with /proc/PID/comm, all equal; "
                    + "%d differ from their comm%n", vm, mode, compared, processes.size(), different);
            assertThat(processes).extracting(GuestProcess::name)
                    .contains("periscope_kthread_with_a_long_name")
                    .anyMatch(n -> n.equals("kworker/R-periscope_reclaim_wq") || n.equals("periscope_recla"))
                    .anyMatch(n -> n.startsWith("kworker/") && n.endsWith("+periscope_reclaim_wq"));
            for (GuestProcess p : processes) {
                assertThat(p.threadDetails()).as("threads of %d", p.pid()).extracting(GuestThread::tid)
                        .isEqualTo(p.threads());
                assertThat(p.threadDetails().getFirst().name()).isEqualTo(p.name());
            }
        }
    }

    /**
     * Reads /proc, lists, reads /proc again until the names of every pid unchanged between the two readings agree
     * with the list. A workqueue worker's description changes with every work item it runs, so a worker may differ
     * at the instant of the list and be back by the second reading: such a try is repeated (five at most); any
     * other difference fails at once. Returns how many processes were compared.
     */
    private static int consistently(String what, LabVm guest, Supplier<List<GuestProcess>> list) {
        List<String> differences = List.of();
        for (int attempt = 1; attempt <= 5; attempt++) {
            Map<Integer, String> before = procComm(guest);
            List<GuestProcess> processes = list.get();
            Map<Integer, String> after = procComm(guest);
            Map<Integer, GuestProcess> byPid = new HashMap<>();
            processes.forEach(p -> byPid.put(p.pid(), p));
            differences = new ArrayList<>();
            int compared = 0;
            for (Map.Entry<Integer, String> e : before.entrySet()) {
                GuestProcess p = byPid.get(e.getKey());
                if (p != null && e.getValue().equals(after.get(e.getKey()))) {
                    compared++;
                    if (!p.name().equals(e.getValue())) {
                        assertThat(p.comm()).as("%s: pid %d is %s, /proc says %s", what, p.pid(), p.name(),
                                e.getValue()).startsWith("kworker/");
                        differences.add(p.pid() + ": " + p.name() + " vs /proc " + e.getValue());
                    }
                }
            }
            if (differences.isEmpty()) {
                assertThat(compared).as("%s: processes compared", what).isGreaterThan(40);
                return compared;
            }
            System.out.printf("[%s] try %d: a worker's description changed under the list: %s%n", what, attempt,
                    differences);
        }
        throw new AssertionError(what + ": names differ from /proc in five tries: " + differences);
    }

    /** The dump's process list equals the guest's /proc around it; then every lab-image case on it. */
    private static void corpusOnTheDump(String vm, LabVm guest, LabDriver driver) throws IOException {
        Path[] dump = new Path[1];
        HostileCorpus.BaseImage[] base = new HostileCorpus.BaseImage[1];
        int compared = consistently(vm + " dump", guest, () -> {
            try (Domain domain = driver.open(vm)) { // closed before the engine attaches: one QMP client at a time
                String release = LinuxModel.profile(domain.memory(), new KernelProfileCache()).release();
                dump[0] = HostileCorpus.dumpLabGuest(domain, release);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            base[0] = HostileCorpus.labImage(HostileCorpus.labId(dump[0].getFileName().toString()), dump[0]);
            return base[0].truth().processes();
        });
        System.out.printf("[%s] dump %s: %d processes, %d compared with /proc, warnings %s%n", vm, dump[0],
                base[0].truth().processes().size(), compared, base[0].truth().warnings());
        assertThat(base[0].truth().warnings()).isEmpty();
        List<HostileCorpus.Result> results = HostileCorpus.runAll(List.of(base[0]));
        assertThat(results).filteredOn(r -> !r.acceptable())
                .as("lab-image cases not ended as accepted:%n%s", HostileCorpus.runs(results)).isEmpty();
    }

    /** Hides the victim with periscope_dkom.ko; the guest still runs it, the engine finds it and flags it. */
    private static void dkom(String vm, LabVm guest, VmiEngine engine) {
        int victim = Integer.parseInt(guest.exec("cat", "/tmp/" + LabModules.VICTIM + ".pid").output().trim());
        ProcessList clean = engine.processes(vm, AcquisitionMode.PAUSE);
        assertThat(clean.processes()).filteredOn(p -> p.pid() == victim).singleElement()
                .extracting(GuestProcess::visibility).isEqualTo(Visibility.LISTED);
        LabVm.Result hidden = guest.exec("sh", "-c", "insmod " + LabModules.DIR + "/periscope_dkom.ko pid=" + victim
                + " && kill -0 " + victim + " && cat /proc/" + victim + "/comm && dmesg | tail -1");
        assertThat(hidden.exitCode()).as("insmod periscope_dkom: %s", hidden.output()).isZero();
        assertThat(hidden.output()).contains(LabModules.VICTIM).contains("unlinked from the task list");
        System.out.printf("[%s] DKOM: %s", vm, hidden.output());
        for (AcquisitionMode mode : AcquisitionMode.values()) {
            ProcessList list = engine.processes(vm, mode);
            GuestProcess p = list.processes().stream().filter(x -> x.pid() == victim).findFirst().orElseThrow(
                    () -> new AssertionError(vm + " " + mode + ": hidden pid " + victim + " not found"));
            System.out.printf("[%s] DKOM %s: pid %d %s %s, read %.2f ms, warnings %s%n", vm, mode, p.pid(), p.name(),
                    p.visibility(), list.readTime().toNanos() / 1e6, list.warnings());
            assertThat(p.visibility()).as("%s %s", vm, mode).isEqualTo(Visibility.HIDDEN);
            assertThat(p.name()).isEqualTo(LabModules.VICTIM);
            assertThat(p.argv()).containsExactly("/bin/sh", "/tmp/" + LabModules.VICTIM);
            assertThat(list.warnings()).contains("pid " + victim + " (" + LabModules.VICTIM
                    + ") is alive in the PID table but unlinked from the task list: hidden");
            assertThat(list.processes()).filteredOn(x -> x.pid() != victim && x.visibility() == Visibility.HIDDEN)
                    .as("%s %s: nothing else hidden", vm, mode).isEmpty();
            if (mode != AcquisitionMode.LIVE) {
                assertThat(list.processes()).filteredOn(x -> x.visibility() == Visibility.UNHASHED)
                        .as("%s %s: a consistent read has no unhashed task", vm, mode).isEmpty();
            }
        }
    }

    private static Map<Integer, String> procComm(LabVm guest) {
        LabVm.Result r = guest.exec("sh", "-c", PROC_COMM);
        assertThat(r.exitCode()).as("reading /proc/*/comm: %s", r.output()).isZero();
        Map<Integer, String> comm = new HashMap<>();
        for (String line : r.output().split("\n")) {
            int bar = line.indexOf('|');
            if (bar > 0) {
                comm.put(Integer.parseInt(line.substring(0, bar)), line.substring(bar + 1));
            }
        }
        return comm;
    }
}
