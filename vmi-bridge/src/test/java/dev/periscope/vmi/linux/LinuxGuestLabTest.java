package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabDriver;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The whole path against real lab guests: the engine's process list in all three acquisition modes equals the
 * guest's own /proc view, on the default 6.1 kernel with KASLR, on 6.12 and with nokaslr. Boots guests named
 * lxmodel-*; skipped with -Dperiscope.lab.skip=true.
 */
class LinuxGuestLabTest {

    private static final String GUEST_VIEW = "for d in /proc/[0-9]*; do p=${d#/proc/}; "
            + "s=$(cat $d/stat 2>/dev/null) || continue; u=; "
            + "while read k v rest; do [ \"$k\" = Uid: ] && u=$v; done < $d/status 2>/dev/null; "
            + "echo \"$p|$u|$s\"; done";

    record Seen(int pid, int ppid, String comm, int uid) {
    }

    @Test
    void defaultKernelWithKaslr() throws Exception {
        checkGuest("lxmodel-61", List.of(), false);
    }

    @Test
    void kernel612() throws Exception {
        checkGuest("lxmodel-612", List.of("--kernel-package", RealKernels.K612), false);
    }

    @Test
    void defaultKernelNokaslr() throws Exception {
        checkGuest("lxmodel-nk", List.of("--nokaslr"), true);
    }

    private static void checkGuest(String vm, List<String> startArgs, boolean nokaslr) throws Exception {
        assumeFalse(Boolean.getBoolean("periscope.lab.skip"), "lab tests skipped (periscope.lab.skip=true)");
        Path repo = RealKernels.repo();
        Path lab = repo.resolve("lab/lab.sh");
        assumeTrue(Files.isExecutable(lab), "no lab/lab.sh");
        List<String> start = new ArrayList<>(List.of(lab.toString(), "start", vm, "--workload", "busy"));
        start.addAll(startArgs);
        boolean started = false;
        try (LabDriver driver = new LabDriver(repo.resolve("var")); VmiEngine engine = new VmiEngine(driver)) {
            if (driver.domain(vm).filter(d -> d.running()).isEmpty()) {
                run(start, 600);
                started = true;
            }
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
                Map<Integer, Seen> before = guestView(lab, vm);
                ProcessList list = engine.processes(vm, mode);
                Map<Integer, Seen> after = guestView(lab, vm);
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
        } finally {
            if (started) {
                run(List.of(lab.toString(), "stop", vm), 120);
            }
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

    static Map<Integer, Seen> guestView(Path lab, String vm) throws IOException, InterruptedException {
        String out = run(List.of(lab.toString(), "exec", vm, "--timeout", "60", "--", "sh", "-c", GUEST_VIEW), 120);
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

    private static String run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + command);
        }
        if (p.exitValue() != 0) {
            throw new IOException("exit " + p.exitValue() + ": " + command);
        }
        return new String(out, StandardCharsets.UTF_8);
    }
}
