package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.xen.XenDriver;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.Disposable;

/**
 * A process-bound syscall trace of a live Xen domain through the engine, run inside dom0 of the Xen lab: the same
 * {@code VmiEngine.trace} as on the QEMU lab, on {@code XenDomain.eventChannel()} (Xen's vm_event monitor through
 * libperiscope-xen into a Periscope ring). With the default method, M5, the syscall entry is a hypervisor breakpoint
 * of xen-extensions patch 0002 (re-armed inside Xen, no single-step: AMD offers none to monitors) and CR3 writes
 * are filtered in Xen by patch 0001's DTB set.
 *
 * <p>Usage, in dom0 (FLASK must let dom0 use vm_event on the guest): {@code java --enable-native-access=ALL-UNNAMED
 * -Djava.library.path=/opt/periscope/lib -cp benchmarks.jar dev.periscope.bench.XenTrace --vm NAME --process NAME
 * [--method M5] [--seconds S]}. Prints the traced pids, the syscalls seen per pid and name, and one summary line:
 * {@code trace method M seconds S syscalls N target_pids P foreign_pids F cr3_delivered C hypervisor_suppressed X
 * dropped D}; foreign = syscalls attributed to a process that was neither the target nor its descendant.
 */
public final class XenTrace {

    public static void main(String[] argv) throws InterruptedException {
        Map<String, String> a = Stats.args(argv);
        String vm = a.get("vm");
        String process = a.get("process");
        if (vm == null || process == null) {
            throw new IllegalArgumentException("--vm NAME and --process NAME are required");
        }
        TraceMethod method = TraceMethod.valueOf(a.getOrDefault("method", "M5").toUpperCase(Locale.ROOT));
        int seconds = Integer.parseInt(a.getOrDefault("seconds", "10"));

        try (XenDriver driver = new XenDriver(); VmiEngine engine = new VmiEngine(driver)) {
            GuestProcess target = engine.processes(vm, AcquisitionMode.LIVE).processes().stream()
                    .filter(p -> p.name().equals(process)).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no process " + process + " in " + vm));
            System.out.printf("target %s pid %d cr3 0x%x method %s%n", process, target.pid(), target.cr3(), method);
            Map<String, AtomicLong> perSyscall = new TreeMap<>();
            Set<Integer> pids = ConcurrentHashMap.newKeySet();
            AtomicLong syscalls = new AtomicLong();
            OverheadSnapshot overhead;
            try (TraceSession s = engine.trace(vm, TraceRequest.pid(target.pid()).withMethod(method).withChildren(true))) {
                Disposable d = s.events().subscribe(e -> {
                    if (e instanceof TraceEvent.Syscall c) {
                        syscalls.incrementAndGet();
                        pids.add(c.pid());
                        synchronized (perSyscall) {
                            perSyscall.computeIfAbsent(c.pid() + " " + c.process() + " " + c.name(),
                                    k -> new AtomicLong()).incrementAndGet();
                        }
                    }
                });
                Thread.sleep(seconds * 1000L);
                if (s.ended()) {
                    throw new IllegalStateException("the trace ended early: " + s.end().orElseThrow());
                }
                overhead = s.overhead();
                d.dispose();
            }
            // a pid is foreign when the guest still runs it outside the target's family (an exited child cannot be
            // told from an exited stranger: it is counted as the target's)
            List<GuestProcess> now = engine.processes(vm, AcquisitionMode.LIVE).processes();
            Set<Integer> family = family(now, target.pid());
            long foreign = pids.stream()
                    .filter(p -> !family.contains(p) && now.stream().anyMatch(g -> g.pid() == p)).count();
            synchronized (perSyscall) {
                perSyscall.forEach((k, v) -> System.out.println("syscall " + k + " " + v.get()));
            }
            System.out.println("pids " + pids);
            System.out.printf(Locale.ROOT, "trace method %s seconds %d syscalls %d target_pids %d foreign_pids %d "
                            + "cr3_delivered %d hypervisor_suppressed %d dropped %d%n", method, seconds, syscalls.get(),
                    pids.size() - foreign, foreign, overhead.cr3Delivered(), overhead.hypervisorFiltered(),
                    overhead.ringDropped() + overhead.sessionDropped());
        }
    }

    /** The pid and every pid below it. */
    private static Set<Integer> family(List<GuestProcess> list, int root) {
        Set<Integer> out = new HashSet<>(Set.of(root));
        for (boolean grew = true; grew; ) {
            grew = false;
            for (GuestProcess p : list) {
                grew |= out.contains(p.ppid()) && out.add(p.pid());
            }
        }
        return out;
    }
}
