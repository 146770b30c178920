package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.xen.XenDriver;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.ProcessList;
import java.util.Locale;
import java.util.Map;

/**
 * The engine against a real Xen domain, run inside dom0 of the Xen lab (lab/xen): opens {@link XenDriver} over
 * libperiscope-xen, attaches to a domU through {@link VmiEngine}, derives its kernel profile (KASLR slide) from
 * live memory, lists its processes and prints them as {@code PID PPID NAME} lines, with the time of each stage
 * (a fresh JVM under nested TCG: nothing is JIT-compiled, every frame mapping is a hypercall).
 *
 * <p>Usage, in dom0: {@code java --enable-native-access=ALL-UNNAMED -Djava.library.path=/opt/periscope/lib
 * -cp benchmarks.jar dev.periscope.bench.XenProcesses --vm NAME [--mode live|pause|snapshot] [--runs N]}.
 * The process table is printed between {@code BEGIN PROCESSES} and {@code END PROCESSES}.
 */
public final class XenProcesses {

    public static void main(String[] argv) {
        Map<String, String> a = Stats.args(argv);
        String vm = a.get("vm");
        if (vm == null) {
            throw new IllegalArgumentException("--vm NAME is required");
        }
        AcquisitionMode mode = AcquisitionMode.valueOf(a.getOrDefault("mode", "live").toUpperCase(Locale.ROOT));
        int runs = Integer.parseInt(a.getOrDefault("runs", "3"));

        long t0 = System.nanoTime();
        try (HypervisorDriver driver = new XenDriver(); VmiEngine engine = new VmiEngine(driver)) {
            step("driver open", t0);
            long t = System.nanoTime();
            for (DomainInfo d : engine.domains()) {
                System.out.println("domain " + d);
            }
            step("domain list", t);
            t = System.nanoTime();
            System.out.println("capabilities " + engine.capabilities(vm));
            step("capabilities", t);

            t = System.nanoTime();
            KernelProfile profile = engine.profile(vm);
            step("attach + kernel profile", t);
            System.out.println("profile " + profile.summary());

            ProcessList list = null;
            for (int i = 0; i < runs; i++) {
                t = System.nanoTime();
                list = engine.processes(vm, mode);
                System.out.printf("processes run %d (%s): %d processes, wall %.1f ms, walk %.1f ms, downtime %.1f ms%n",
                        i + 1, mode, list.processes().size(), Stats.ms(System.nanoTime() - t),
                        Stats.ms(list.readTime().toNanos()), Stats.ms(list.guestDowntime().toNanos()));
            }
            if (list != null) {
                list.warnings().forEach(w -> System.out.println("warning " + w));
                System.out.println("BEGIN PROCESSES");
                System.out.printf("%5s %5s %s%n", "PID", "PPID", "NAME");
                for (GuestProcess p : list.processes()) {
                    System.out.printf("%5d %5d %s%n", p.pid(), p.ppid(), p.kernelThread() ? "[" + p.name() + "]"
                            : p.cmdline());
                }
                System.out.println("END PROCESSES");
            }
        }
        step("total", t0);
    }

    private static void step(String what, long since) {
        System.out.printf("time %s: %.1f ms%n", what, Stats.ms(System.nanoTime() - since));
    }
}
