package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.lab.LabVm;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The whole path against real lab guests: the engine's process list in all three acquisition modes equals the
 * guest's own /proc view, on the default 6.1 kernel with KASLR, on 6.12, with nokaslr and through the remote
 * transport. Boots guests named lxmodel-*; skipped with -Dperiscope.lab.skip=true.
 */
class LinuxGuestLabTest {

    private static final String GUEST_VIEW = "for d in /proc/[0-9]*; do p=${d#/proc/}; "
            + "s=$(cat $d/stat 2>/dev/null) || continue; u=; "
            + "while read k v rest; do [ \"$k\" = Uid: ] && u=$v; done < $d/status 2>/dev/null; "
            + "echo \"$p|$u|$s\"; done; true"; // processes may vanish mid-loop: only the exec itself may fail

    record Seen(int pid, int ppid, String comm, int uid) {
    }

    @Test
    void defaultKernelWithKaslr() {
        checkGuest("lxmodel-61", List.of(), false);
    }

    @Test
    void kernel612() {
        checkGuest("lxmodel-612", List.of("--kernel-package", RealKernels.K612), false);
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
                Map<Integer, Seen> before = guestView(guest);
                ProcessList list = engine.processes(vm, mode);
                Map<Integer, Seen> after = guestView(guest);
                System.out.printf("[%s] %s: %d processes, read %.2f ms, downtime %.2f ms, age %.1f ms, warnings %s%n",
                        vm, mode, list.processes().size(), list.readTime().toNanos() / 1e6,
                        list.guestDowntime().toNanos() / 1e6, list.snapshotAge().toNanos() / 1e6, list.warnings());
                compare(vm, mode, before, after, list);
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

    private static void compare(String vm, AcquisitionMode mode, Map<Integer, Seen> before, Map<Integer, Seen> after,
                                ProcessList list) {
        Map<Integer, GuestProcess> engine = new HashMap<>();
        list.processes().forEach(p -> engine.put(p.pid(), p));
        int maxBefore = before.keySet().stream().mapToInt(Integer::intValue).max().orElse(0);
        int checked = 0;
        for (Seen b : before.values()) {
            Seen a = after.get(b.pid());
            if (a == null) {
                continue;
            }
            GuestProcess p = engine.get(b.pid());
            assertThat(p).as("%s %s: pid %d (%s) is in both guest readings", vm, mode, b.pid(), b.comm()).isNotNull();
            if (a.equals(b)) { // unchanged between the readings: must match exactly
                assertThat(p.ppid()).as("%s %s ppid of %d", vm, mode, b.pid()).isEqualTo(b.ppid());
                if (p.kernelThread()) {
                    // /proc shows a kernel thread's full name (kthread full_name, workqueue suffix); comm is its prefix.
                    assertThat(b.comm()).as("%s %s comm of kernel thread %d", vm, mode, b.pid()).startsWith(p.name());
                } else {
                    assertThat(p.name()).as("%s %s comm of %d", vm, mode, b.pid()).isEqualTo(b.comm());
                }
                assertThat(p.uid()).as("%s %s uid of %d", vm, mode, b.pid()).isEqualTo(b.uid());
                checked++;
            }
        }
        for (GuestProcess p : list.processes()) {
            if (!before.containsKey(p.pid()) && !after.containsKey(p.pid())) {
                // Only a process born after the first reading and gone before the second may be unseen by it.
                assertThat(p.pid()).as("%s %s: pid %d (%s) in neither guest reading", vm, mode, p.pid(), p.name())
                        .isGreaterThan(maxBefore);
            }
        }
        assertThat(checked).as("processes compared").isGreaterThan(20);
    }

    static Map<Integer, Seen> guestView(LabVm guest) {
        LabVm.Result view = guest.exec("sh", "-c", GUEST_VIEW);
        assertThat(view.exitCode()).as("guest /proc reading failed: %s", view.output()).isZero();
        String out = view.output();
        Map<Integer, Seen> seen = new HashMap<>();
        for (String line : out.split("\n")) {
            String[] f = line.split("\\|", 3);
            if (f.length < 3 || f[1].isEmpty()) {
                continue;
            }
            String stat = f[2];
            int open = stat.indexOf('('), close = stat.lastIndexOf(')');
            if (open < 0 || close < open) {
                continue;
            }
            String[] rest = stat.substring(close + 2).split(" ");
            seen.put(Integer.parseInt(f[0].trim()), new Seen(Integer.parseInt(f[0].trim()),
                    Integer.parseInt(rest[1]), stat.substring(open + 1, close), Integer.parseInt(f[1].trim())));
        }
        assertThat(seen).as("guest /proc reading").isNotEmpty();
        return seen;
    }
}
