package dev.periscope.bench;

import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The synchronous round trip plugin -> Java -> plugin (target p50 <= 20 us, p99 <= 100 us), and asynchronous
 * records end to end, with the native stand-in producer (ring_producer: the plugin's reserve/publish/wait code,
 * without a guest, whose TCG vCPU would add its own noise). Java consumes as the VM's ring thread does: one
 * thread polling, spinning with {@link Thread#onSpinWait()} while records flow.
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.periscope.bench.RingRoundTrip [SYNC_COUNT] [ASYNC_COUNT]</pre>
 */
public final class RingRoundTrip {

    public static void main(String[] args) throws Exception {
        int syncCount = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        int asyncCount = args.length > 1 ? Integer.parseInt(args[1]) : 5_000_000;
        Path file = Path.of("/dev/shm/periscope-bench-rtt-" + ProcessHandle.current().pid());
        try (EventRing ring = EventRing.create(file, 1, 1 << 16, RingToken.random())) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong consumed = new AtomicLong();
            Thread consumer = Thread.ofPlatform().name("ring-consumer").start(() -> {
                long[] sum = new long[1];
                while (!stop.get()) {
                    int n = ring.poll(r -> sum[0] += r.syscallNumber(), 4096);
                    if (n == 0) {
                        Thread.onSpinWait();
                    } else {
                        consumed.addAndGet(n);
                    }
                }
            });
            // warm up the consumer's code paths, then measure
            run(file, "2000", "--sync", "1000");
            String sync = run(file, Integer.toString(syncCount), "--sync", "1000");
            long before = consumed.get();
            long t0 = System.nanoTime();
            String async = run(file, Integer.toString(asyncCount));
            while (consumed.get() - before < asyncCount && System.nanoTime() - t0 < 30_000_000_000L) {
                if (ring.backlog() == 0) {
                    break;
                }
                Thread.sleep(1);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            stop.set(true);
            consumer.join();
            System.out.println("sync round trip (ring_producer --sync, Java spinning consumer): " + sync);
            System.out.println("async end to end (ring_producer free-running): " + async);
            System.out.printf(Locale.ROOT, "async consumed by Java: %d records in %.3f s = %.2f M records/s%n",
                    consumed.get() - before, secs, (consumed.get() - before) / secs / 1e6);
        }
    }

    private static String run(Path file, String... args) throws Exception {
        String[] cmd = new String[args.length + 2];
        cmd[0] = RingBenchmark.producer().toString();
        cmd[1] = file.toString();
        System.arraycopy(args, 0, cmd, 2, args.length);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + ": " + out);
        }
        return out;
    }
}
