package dev.periscope.vmi.ring;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Manual probe of the ring (not a unit test; the JMH benchmark in bench/ replaces the throughput part):
 * <pre>
 *   java -cp target/classes:target/test-classes dev.periscope.vmi.ring.RingProbe throughput NATIVE_DIR [millions]
 *   java ... RingProbe sync NATIVE_DIR [count]
 *   java ... RingProbe guest RING_PATH ARGS_FILE SYSCALL_ENTRY_HEX [seconds]
 * </pre>
 * {@code guest} creates the ring, writes its plugin arguments to ARGS_FILE, waits for the plugin, then runs
 * phases (all CR3 writes, syscalls, a DTB-filtered phase) and prints per-second counts.
 */
public final class RingProbe {

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "throughput" -> throughput(Path.of(args[1]), args.length > 2 ? Integer.parseInt(args[2]) : 50);
            case "sync" -> sync(Path.of(args[1]), args.length > 2 ? Integer.parseInt(args[2]) : 100_000);
            case "guest" -> guest(Path.of(args[1]), Path.of(args[2]), Long.parseUnsignedLong(args[3], 16),
                    args.length > 4 ? Integer.parseInt(args[4]) : 5);
            case "toggle" -> toggle(Path.of(args[1]), Path.of(args[2]), args[3], Long.parseUnsignedLong(args[4], 16),
                    Integer.parseInt(args[5]), Integer.parseInt(args[6]));
            case "hold" -> hold(Path.of(args[1]), Path.of(args[2]), args[3], Long.parseUnsignedLong(args[4], 16),
                    Integer.parseInt(args[5]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    /** C producer (the plugin's ring code) as fast as it can, Java consuming with the flyweight view. */
    static void throughput(Path nativeDir, int millions) throws Exception {
        Path file = Path.of("/dev/shm/periscope-probe-" + ProcessHandle.current().pid() + ".ring");
        try (EventRing ring = EventRing.create(file, 1, 1 << 16, RingToken.random())) {
            long n = millions * 1_000_000L;
            long[] sum = new long[2];
            RingRecordHandler h = r -> {
                sum[0] += r.syscallNumber() + r.arg(5);
                sum[1]++;
            };
            Process p = new ProcessBuilder(nativeDir.resolve("ring_producer").toString(), file.toString(),
                    Long.toString(n)).redirectErrorStream(true).start();
            long t0 = System.nanoTime();
            long idle = 0;
            while (p.isAlive() || ring.backlog() > 0) {
                if (ring.poll(h, 4096) == 0) {
                    idle++;
                    Thread.onSpinWait();
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            String out = new String(p.getInputStream().readAllBytes()).trim();
            RingCounters c = ring.counters();
            System.out.printf("throughput: consumed %,d records in %.2f s = %.2f M records/s into Java"
                            + " (delivered %,d, dropped %,d, idle polls %,d)%n  producer: %s%n",
                    sum[1], secs, sum[1] / secs / 1e6, c.delivered(), c.dropped(), idle, out);

            // consumer capacity: the C producer pre-fills the lane, then Java drains it (no producer racing)
            Path big = Path.of(file + ".big");
            try (EventRing full = EventRing.create(big, 1, 1 << 20, RingToken.random())) {
                for (int round = 0; round < 5; round++) {
                    Process fill = new ProcessBuilder(nativeDir.resolve("ring_producer").toString(), big.toString(),
                            Integer.toString(1 << 20)).redirectErrorStream(true).start();
                    fill.getInputStream().readAllBytes();
                    fill.waitFor();
                    long[] acc = new long[1];
                    RingRecordHandler hh = r -> acc[0] += r.syscallNumber() + r.arg(5) + r.newCr3();
                    long t = System.nanoTime();
                    long got = 0;
                    while (got < (1 << 20)) {
                        got += full.poll(hh, 4096);
                    }
                    double ds = (System.nanoTime() - t) / 1e9;
                    System.out.printf("consumer capacity (pre-filled lane, flyweight view): %.1f M records/s%n",
                            got / ds / 1e6);
                }
            }

            // Java-only: copying into RingEvent (allocating) for comparison, Java producer thread
            List<RingEvent> sink = new ArrayList<>(1);
            try (RingTestProducer jp = new RingTestProducer(file, 0)) {
                long m = 10_000_000L;
                Thread prod = Thread.ofPlatform().start(() -> {
                    for (long i = 0; i < m; i++) {
                        while (jp.produce(i, false) < 0) {
                            Thread.onSpinWait();
                        }
                    }
                });
                long got = 0;
                long t1 = System.nanoTime();
                while (got < m) {
                    got += ring.drainTo(e -> {
                        if (e.sequence() < 0) {
                            sink.add(e);
                        }
                    }, 4096);
                }
                prod.join();
                double s2 = (System.nanoTime() - t1) / 1e9;
                System.out.printf("throughput (Java producer, RingEvent copies): %.2f M records/s%n", m / s2 / 1e6);
            }
        }
    }

    /** C producer in synchronous mode: each record waits for Java's answer; the producer measures round trips. */
    static void sync(Path nativeDir, int count) throws Exception {
        Path file = Path.of("/dev/shm/periscope-probe-sync-" + ProcessHandle.current().pid() + ".ring");
        try (EventRing ring = EventRing.create(file, 1, 1024, RingToken.random())) {
            Thread consumer = Thread.ofPlatform().daemon().start(() -> {
                RingRecordHandler h = r -> { };
                while (!Thread.currentThread().isInterrupted()) {
                    if (ring.poll(h, 256) == 0) {
                        Thread.onSpinWait();
                    }
                }
            });
            Process p = new ProcessBuilder(nativeDir.resolve("ring_producer").toString(), file.toString(),
                    Integer.toString(count), "--sync", "1000").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            consumer.interrupt();
            consumer.join(1000);
            System.out.println("sync round trip (C producer -> Java -> C): " + out);
        }
    }

    static void guest(Path ringPath, Path argsFile, long syscallEntry, int seconds) throws Exception {
        int lanes = Integer.getInteger("lanes", 1);
        try (EventRing ring = EventRing.create(ringPath, lanes, 1 << 14, RingToken.random())) {
            Files.writeString(argsFile, ring.pluginArgs() + "\n");
            System.out.println("plugin args: " + ring.pluginArgs().replaceAll("token=\\w+", "token=..."));
            while (!ring.producerAttached()) {
                Thread.sleep(50);
            }
            System.out.println("plugin attached, pid " + ring.producerPid());
            Thread.sleep(Integer.getInteger("delaySeconds", 0) * 1000L); // let the guest boot

            // phase 1: all CR3 writes, async
            ring.configure(RingControl.off().withModes(RingMode.CR3));
            System.out.println("applied: " + ring.awaitApplied(Duration.ofSeconds(30)));
            Map<Long, Long> dtbCounts = new HashMap<>();
            phase(ring, "CR3 all", seconds, e -> {
                if (e.kind() == RingEventKind.CR3_WRITE) {
                    dtbCounts.merge(e.newCr3() & RingLayout.DTB_MASK, 1L, Long::sum);
                }
                return true;
            });

            // phase 2: syscalls at entry_SYSCALL_64, async, with pre-read; CR3 still on
            ring.configure(RingControl.off().withModes(RingMode.CR3, RingMode.SYSCALL, RingMode.PREREAD)
                    .withBreakpoints(List.of(Breakpoint.syscallEntry(syscallEntry))));
            System.out.println("applied: " + ring.awaitApplied(Duration.ofSeconds(30)) + ", flushes " + ring.flushes());
            Map<Long, Long> nrCounts = new HashMap<>();
            Map<Long, Long> syscallsPerDtb = new HashMap<>();
            String[] sample = new String[1];
            phase(ring, "CR3 + syscalls", seconds, e -> {
                if (e.kind() == RingEventKind.SYSCALL) {
                    nrCounts.merge(e.syscallNumber(), 1L, Long::sum);
                    syscallsPerDtb.merge(e.newCr3() & RingLayout.DTB_MASK, 1L, Long::sum);
                    if (e.data().length > 0 && sample[0] == null && e.syscallNumber() == 257) {
                        sample[0] = e + " path=" + new String(e.data()).split("\0")[0];
                    }
                }
                return true;
            });
            System.out.println("  top syscalls: " + top(nrCounts, 8));
            System.out.println("  sample: " + sample[0]);

            // phase 3: DTB filter on the process that made the most syscalls in phase 2 (the workload shell)
            System.out.println("  DTBs seen (top): " + top(dtbCounts, 6));
            System.out.println("  syscalls per DTB (top): " + top(syscallsPerDtb, 6));
            long target = syscallsPerDtb.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
            RingControl filtered = RingControl.off()
                    .withModes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.SYSCALL, RingMode.SYSCALL_FILTER)
                    .withDtbs(List.of(target))
                    .withBreakpoints(List.of(Breakpoint.syscallEntry(syscallEntry)));
            long filteredGeneration = ring.configure(filtered);
            System.out.println("filter DTB " + Long.toHexString(target) + " applied: "
                    + ring.awaitApplied(Duration.ofSeconds(30)));
            long[] violations = new long[2];
            phase(ring, "filtered to one DTB", seconds, e -> {
                if (e.controlGeneration() < filteredGeneration) {
                    violations[1]++; // written under the previous configuration, still in the ring
                    return true;
                }
                boolean ok = switch (e.kind()) {
                    case CR3_WRITE -> filtered.matches(e.oldCr3()) || filtered.matches(e.newCr3());
                    case SYSCALL -> filtered.matches(e.newCr3());
                    default -> true;
                };
                if (!ok) {
                    violations[0]++;
                }
                return ok;
            });
            System.out.println("  records not involving the filtered DTB: " + violations[0]
                    + " (records left from the previous configuration: " + violations[1] + ")");

            // phase 4: synchronous CR3 (M4-style): vCPU waits for Java on each filtered switch
            ring.configure(filtered.withModes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.CR3_SYNC));
            ring.awaitApplied(Duration.ofSeconds(30));
            List<Long> lat = new ArrayList<>();
            SPIN = true;
            phase(ring, "filtered CR3, synchronous", seconds, e -> {
                lat.add(System.nanoTime() - e.timestampNs());
                return true;
            });
            SPIN = false;
            RingCounters sc = ring.counters();
            if (!lat.isEmpty()) {
                lat.sort(null);
                System.out.printf("  plugin->Java delivery latency p50 %.1f us, p99 %.1f us (n=%d)%n",
                        lat.get(lat.size() / 2) / 1e3, lat.get(lat.size() * 99 / 100) / 1e3, lat.size());
                System.out.printf("  vCPU wait per synchronous record (plugin -> Java -> plugin), mean %.1f us%n",
                        sc.vcpuWaitNs() / 1e3 / Math.max(1, lat.size()));
            }
            ring.configure(RingControl.off());
            ring.awaitApplied(Duration.ofSeconds(10));

            // a writer without the capability: the plugin must ignore it
            long delivered = ring.counters().delivered();
            try (EventRing intruder = EventRing.open(ringPath, RingToken.random())) {
                intruder.configure(RingControl.off().withModes(RingMode.CR3, RingMode.CR3_SYNC));
                Thread.sleep(seconds * 1000L);
                System.out.println("intruder with a wrong token: rejected " + ring.controlRejected()
                        + ", records delivered meanwhile " + (ring.counters().delivered() - delivered));
            }
            System.out.println("final counters: " + ring.counters() + ", rejected " + ring.controlRejected()
                    + ", flushes " + ring.flushes() + ", unlaned " + ring.unlanedEvents());
            for (int i = 0; i < ring.lanes(); i++) {
                System.out.println("  lane " + i + ": " + ring.counters(i));
            }
        }
    }

    private static boolean SPIN;

    /** Creates a ring, applies the given modes (comma list, may be empty) once attached, drains for N seconds. */
    static void hold(Path ringPath, Path argsFile, String modes, long syscallEntry, int seconds) throws Exception {
        try (EventRing ring = EventRing.create(ringPath, 1, 1 << 14, RingToken.random())) {
            Files.writeString(argsFile, ring.pluginArgs() + "\n");
            while (!ring.producerAttached()) {
                Thread.sleep(20);
            }
            java.util.EnumSet<RingMode> set = java.util.EnumSet.noneOf(RingMode.class);
            for (String m : modes.split(",")) {
                if (!m.isBlank()) {
                    set.add(RingMode.valueOf(m));
                }
            }
            ring.configure(new RingControl(set, List.of(), set.contains(RingMode.SYSCALL)
                    ? List.of(Breakpoint.syscallEntry(syscallEntry)) : List.of(), Duration.ofMillis(1)));
            long end = System.nanoTime() + seconds * 1_000_000_000L;
            long[] n = new long[1];
            while (System.nanoTime() < end) {
                if (ring.poll(r -> n[0]++, 4096) == 0) {
                    Thread.sleep(1);
                }
            }
            System.out.println("hold " + modes + ": consumed " + n[0] + ", " + ring.counters());
        }
    }

    /**
     * Same VM, same host noise: alternates mode off and MODES every PERIOD seconds, CYCLES times, printing
     * "MODE epochSeconds name" lines so guest rounds (host-timestamped) can be attributed to a mode.
     */
    static void toggle(Path ringPath, Path argsFile, String modes, long syscallEntry, int period, int cycles)
            throws Exception {
        try (EventRing ring = EventRing.create(ringPath, 1, 1 << 14, RingToken.random())) {
            Files.writeString(argsFile, ring.pluginArgs() + "\n");
            while (!ring.producerAttached()) {
                Thread.sleep(20);
            }
            java.util.EnumSet<RingMode> set = java.util.EnumSet.noneOf(RingMode.class);
            for (String m : modes.split(",")) {
                set.add(RingMode.valueOf(m));
            }
            List<Breakpoint> bps = List.of(Breakpoint.syscallEntry(syscallEntry));
            // same table: toggling never flushes; -DoffWithoutBreakpoints=true: "off" removes the table (a flush per switch)
            RingControl off = Boolean.getBoolean("offWithoutBreakpoints") ? RingControl.off()
                    : RingControl.off().withBreakpoints(bps);
            RingControl on = new RingControl(set, List.of(), bps, Duration.ofMillis(1));
            long[] n = new long[1];
            Thread.sleep(Integer.getInteger("delaySeconds", 0) * 1000L);
            for (int c = 0; c < cycles * 2; c++) {
                RingControl ctl = c % 2 == 0 ? off : on;
                ring.configure(ctl);
                System.out.printf("MODE %.3f %s%n", System.currentTimeMillis() / 1000.0, c % 2 == 0 ? "off" : "on");
                long end = System.nanoTime() + period * 1_000_000_000L;
                while (System.nanoTime() < end) {
                    if (ring.poll(r -> n[0]++, 4096) == 0) {
                        Thread.sleep(1);
                    }
                }
            }
            System.out.printf("MODE %.3f end%n", System.currentTimeMillis() / 1000.0);
            System.out.println("toggle " + modes + ": consumed " + n[0] + ", " + ring.counters() + ", flushes "
                    + ring.flushes());
        }
    }

    interface Check {
        boolean accept(RingEvent e);
    }

    private static void phase(EventRing ring, String name, int seconds, Check check) throws InterruptedException {
        System.out.println("phase: " + name);
        RingCounters before = ring.counters();
        for (int s = 0; s < seconds; s++) {
            long end = System.nanoTime() + 1_000_000_000L;
            Map<RingEventKind, Long> perKind = new HashMap<>();
            RingCounters c0 = ring.counters();
            while (System.nanoTime() < end) {
                if (ring.drainTo(e -> {
                    perKind.merge(e.kind(), 1L, Long::sum);
                    check.accept(e);
                }, 1024) == 0) {
                    if (SPIN) {
                        Thread.onSpinWait(); // a synchronous session's ring thread busy-polls
                    } else {
                        Thread.sleep(0, 200_000);
                    }
                }
            }
            RingCounters d = ring.counters().minus(c0);
            System.out.printf("  %ds: received %s | seen %d filtered %d delivered %d dropped %d vcpuWait %.2f ms"
                            + " timeouts %d%n", s + 1, perKind, d.seen(), d.filtered(), d.delivered(), d.dropped(),
                    d.vcpuWaitNs() / 1e6, d.syncTimeouts());
        }
        RingCounters d = ring.counters().minus(before);
        System.out.println("  phase total: " + d);
    }

    private static String top(Map<Long, Long> m, int n) {
        return m.entrySet().stream().sorted(Map.Entry.<Long, Long>comparingByValue().reversed()).limit(n)
                .map(e -> Long.toHexString(e.getKey()) + "=" + e.getValue()).toList().toString();
    }

    private RingProbe() {
    }
}
