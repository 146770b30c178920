package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * End-to-end engine measurements against a lab VM (not JMH: each sample has a guest-visible side effect).
 * <ol>
 *   <li>the first profile in a fresh JVM (nothing JIT-compiled, new cache): what a server start pays;</li>
 *   <li>{@code --runs} SNAPSHOT process lists through {@link VmiEngine}: guest downtime (QEMU's figure for the
 *       background snapshot), wall time of the whole call, snapshot age, walk time;</li>
 *   <li>{@code --pause-runs} PAUSE process lists: guest downtime (stop to cont) of a paused walk;</li>
 *   <li>{@code --runs} raw {@link Domain#snapshot()}s: downtime and the driver's total time to a readable image;</li>
 *   <li>{@code --copy-runs} pause-and-copy: stop the guest, copy all of its RAM into a byte[], resume (the
 *       naive consistent image the copy-on-write snapshot replaces); the pause the guest saw.</li>
 * </ol>
 * Usage: {@code java -Xmx2g -cp benchmarks.jar dev.periscope.bench.EngineEndToEnd --vm bench-1 --var VAR
 * --runs 20 --pause-runs 50 --copy-runs 5 --out FILE.json}. The VM must not be attached by another process
 * (QEMU's QMP socket takes one client): run it before starting a server that serves the VM.
 */
public final class EngineEndToEnd {

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = Stats.args(argv);
        String vm = a.getOrDefault("vm", Guest.vm());
        Path var = Path.of(a.getOrDefault("var", Guest.varDir().toString())).toAbsolutePath();
        int runs = Integer.parseInt(a.getOrDefault("runs", "20"));
        int pauseRuns = Integer.parseInt(a.getOrDefault("pause-runs", "50"));
        int copyRuns = Integer.parseInt(a.getOrDefault("copy-runs", "5"));
        Path out = Path.of(a.getOrDefault("out", var.resolve("bench/engine-e2e.json").toString()));
        System.setProperty("periscope.var", var.toString());

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("vm", vm);

        // 1. first profile in a fresh JVM
        Path ram = Guest.ramPath(vm);
        try (MappedPhysicalMemory memory = MappedPhysicalMemory.map(ram)) {
            long t0 = System.nanoTime();
            KernelProfile p = LinuxModel.profile(memory, new KernelProfileCache());
            double first = Stats.ms(System.nanoTime() - t0);
            result.put("kernel", p.summary());
            result.put("guestRamBytes", memory.size());
            result.put("profileFirstCallInFreshJvmMs", first);
            System.out.printf("profile, first call in a fresh JVM: %.1f ms (%s)%n", first, p.summary());
        }

        try (LabDriver driver = new LabDriver(var)) {
            // 2. + 3. through the engine
            try (VmiEngine engine = new VmiEngine(driver)) {
                ProcessList warm = engine.processes(vm, AcquisitionMode.LIVE);
                result.put("processes", warm.processes().size());
                result.put("tasks", warm.processes().stream().mapToInt(g -> g.threads().size()).sum());
                for (int i = 0; i < 2; i++) {
                    engine.processes(vm, AcquisitionMode.SNAPSHOT).processes(); // warm-up, not counted
                }
                List<Double> downtime = new ArrayList<>(), wall = new ArrayList<>(), age = new ArrayList<>(),
                        read = new ArrayList<>();
                for (int i = 0; i < runs; i++) {
                    long t0 = System.nanoTime();
                    ProcessList list = engine.processes(vm, AcquisitionMode.SNAPSHOT);
                    wall.add(Stats.ms(System.nanoTime() - t0));
                    downtime.add(list.guestDowntime().toNanos() / 1e6);
                    age.add(list.snapshotAge().toNanos() / 1e6);
                    read.add(list.readTime().toNanos() / 1e6);
                }
                Map<String, Object> snap = new LinkedHashMap<>();
                snap.put("guestDowntimeMs", Stats.summary(downtime));
                snap.put("wallMs", Stats.summary(wall));
                snap.put("snapshotAgeMs", Stats.summary(age));
                snap.put("walkMs", Stats.summary(read));
                snap.put("downtimeSamplesMs", downtime);
                result.put("engineSnapshot", snap);
                System.out.println(Stats.line("engine SNAPSHOT guest downtime", Stats.summary(downtime)));
                System.out.println(Stats.line("engine SNAPSHOT wall (snapshot+map+walk)", Stats.summary(wall)));

                for (int i = 0; i < 5; i++) {
                    engine.processes(vm, AcquisitionMode.PAUSE); // warm-up
                }
                List<Double> pauseDowntime = new ArrayList<>(), pauseWall = new ArrayList<>();
                for (int i = 0; i < pauseRuns; i++) {
                    long t0 = System.nanoTime();
                    ProcessList list = engine.processes(vm, AcquisitionMode.PAUSE);
                    pauseWall.add(Stats.ms(System.nanoTime() - t0));
                    pauseDowntime.add(list.guestDowntime().toNanos() / 1e6);
                }
                Map<String, Object> pause = new LinkedHashMap<>();
                pause.put("guestDowntimeMs", Stats.summary(pauseDowntime));
                pause.put("wallMs", Stats.summary(pauseWall));
                result.put("enginePause", pause);
                System.out.println(Stats.line("engine PAUSE guest downtime (walk paused)", Stats.summary(pauseDowntime)));
            }

            // 4. + 5. straight through the driver's Domain (the engine has detached and released QMP)
            try (Domain domain = driver.open(vm)) {
                List<Double> downtime = new ArrayList<>(), total = new ArrayList<>();
                for (int i = 0; i < runs; i++) {
                    try (MemorySnapshot s = domain.snapshot()) {
                        downtime.add(s.guestDowntime().toNanos() / 1e6);
                        total.add(s.totalTime().toNanos() / 1e6);
                    }
                }
                Map<String, Object> raw = new LinkedHashMap<>();
                raw.put("guestDowntimeMs", Stats.summary(downtime));
                raw.put("totalTimeMs", Stats.summary(total));
                result.put("domainSnapshot", raw);
                System.out.println(Stats.line("Domain.snapshot guest downtime", Stats.summary(downtime)));
                System.out.println(Stats.line("Domain.snapshot total time to readable image", Stats.summary(total)));

                PhysicalMemory memory = domain.memory();
                byte[] copy = new byte[Math.toIntExact(memory.size())];
                copyAll(memory, copy); // touch the target array and warm the copy loop before pausing
                List<Double> paused = new ArrayList<>(), copied = new ArrayList<>();
                for (int i = 0; i < copyRuns; i++) {
                    long t0 = 0, t1 = 0;
                    domain.pause();
                    try {
                        t0 = System.nanoTime();
                        copyAll(memory, copy);
                        t1 = System.nanoTime();
                    } finally {
                        domain.resume();
                    }
                    paused.add(domain.lastPauseDuration().toNanos() / 1e6);
                    copied.add(Stats.ms(t1 - t0));
                    Thread.sleep(200); // let the guest run between pauses
                }
                Map<String, Object> pc = new LinkedHashMap<>();
                pc.put("bytes", copy.length);
                pc.put("guestDowntimeMs", Stats.summary(paused));
                pc.put("copyMs", Stats.summary(copied));
                result.put("pauseAndCopy", pc);
                System.out.println(Stats.line("pause-and-copy guest downtime", Stats.summary(paused)));
                System.out.println(Stats.line("pause-and-copy copy alone", Stats.summary(copied)));
            }
        }
        Stats.writeJson(out, result);
        System.out.println("wrote " + out);
    }

    private static void copyAll(PhysicalMemory memory, byte[] target) {
        int chunk = 1 << 20;
        for (int offset = 0; offset < target.length; offset += chunk) {
            memory.read(offset, target, offset, Math.min(chunk, target.length - offset));
        }
    }
}
