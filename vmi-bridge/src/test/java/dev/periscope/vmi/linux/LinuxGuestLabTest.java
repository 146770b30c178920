package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.lab.LabVm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The whole path against real lab guests: the engine's process list in all three acquisition modes equals the
 * guest's own /proc view (pid, ppid, uid and the name /proc/PID/stat shows, kernel thread full names and
 * workqueue descriptions included), on the default 6.1 kernel with KASLR, on 6.12, with 4 GiB of RAM (split around
 * the hole below 4 GiB) and with nokaslr. Boots guests named lxmodel-*; skipped with -Dperiscope.lab.skip=true.
 */
class LinuxGuestLabTest {

    @Test
    void defaultKernelWithKaslr() {
        checkGuest("lxmodel-61", List.of(), false);
    }

    @Test
    void kernel612() {
        checkGuest("lxmodel-612", List.of("--kernel-package", RealKernels.K612), false);
    }

    /** q35 shows 2 GiB of a 4 GiB guest at 0 and the rest from 4 GiB up; KASLR often puts the kernel up there. */
    @Test
    void fourGibGuest() {
        checkGuest("lxmodel-4g", List.of("--memory", "4096"), false);
    }

    @Test
    void defaultKernelNokaslr() {
        checkGuest("lxmodel-nk", List.of("--nokaslr"), true);
    }

    private static void checkGuest(String vm, List<String> startArgs, boolean nokaslr) {
        LabVm.assumeLabEnabled();
        List<String> start = new ArrayList<>(List.of("--workload", "busy"));
        start.addAll(startArgs);
        try (LabVm guest = LabVm.start(vm, start.toArray(String[]::new));
             LabDriver driver = new LabDriver(LabVm.varDir()); VmiEngine engine = new VmiEngine(driver)) {
            // Profile timings: cold (empty cache) and warm (same build cached) from live memory.
            try (Domain domain = driver.open(vm)) {
                KernelProfileCache cache = new KernelProfileCache();
                long t0 = System.nanoTime();
                KernelProfile cold = LinuxModel.profile(domain.memory(), cache);
                long coldNs = System.nanoTime() - t0;
                t0 = System.nanoTime();
                KernelProfile warm = LinuxModel.profile(domain.memory(), cache);
                long warmNs = System.nanoTime() - t0;
                System.out.printf("[%s] %s%n[%s] profile cold %.1f ms, warm %.1f ms (fromCache=%s)%n", vm,
                        cold.summary(), vm, coldNs / 1e6, warmNs / 1e6, warm.fromCache());
                assertThat(warm.fromCache()).isTrue();
                assertThat(warm.kaslrSlide()).isEqualTo(cold.kaslrSlide());
                assertThat(warm.physBase()).isEqualTo(cold.physBase());
                if (nokaslr) {
                    assertThat(cold.kaslrSlide()).isZero();
                    assertThat(cold.physBase()).isZero();
                }
            }
            for (AcquisitionMode mode : AcquisitionMode.values()) {
                Map<Integer, GuestProcView.Seen> before = guestView(guest);
                ProcessList list = engine.processes(vm, mode);
                Map<Integer, GuestProcView.Seen> after = guestView(guest);
                System.out.printf("[%s] %s: %d processes, read %.2f ms, downtime %.2f ms, age %.1f ms, warnings %s%n",
                        vm, mode, list.processes().size(), list.readTime().toNanos() / 1e6,
                        list.guestDowntime().toNanos() / 1e6, list.snapshotAge().toNanos() / 1e6, list.warnings());
                GuestProcView.compare(vm, mode, before, after, list);
            }
            // Warm process-list time in the engine (LIVE: no snapshot or pause cost in the number).
            long[] times = new long[30];
            for (int i = 0; i < times.length; i++) {
                times[i] = engine.processes(vm, AcquisitionMode.LIVE).readTime().toNanos();
            }
            Arrays.sort(times);
            ProcessList last = engine.processes(vm, AcquisitionMode.LIVE);
            System.out.printf("[%s] process list warm (LIVE, %d tasks): median %.3f ms, min %.3f ms%n", vm,
                    last.processes().size(), times[times.length / 2] / 1e6, times[0] / 1e6);
            GuestProcess init = last.processes().stream().filter(p -> p.pid() == 1).findFirst().orElseThrow();
            System.out.printf("[%s] pid 1: %s argv=%s cr3=0x%x threads=%s state=%s%n", vm, init.name(), init.argv(),
                    init.cr3(), init.threads(), init.state());
            assertThat(init.kernelThread()).isFalse();
            assertThat(init.cr3()).isNotZero();
            assertThat(init.argv()).isNotEmpty();
        }
    }

    static Map<Integer, GuestProcView.Seen> guestView(LabVm guest) {
        LabVm.Result view = guest.exec("sh", "-c", GuestProcView.SCRIPT);
        assertThat(view.exitCode()).as("guest /proc reading failed: %s", view.output()).isZero();
        return GuestProcView.parse(view.output());
    }
}
