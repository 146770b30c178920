package dev.periscope.bench;

import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingRecord;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Asynchronous records into Java (target >= 5 M records/s): before each invocation the native stand-in producer
 * ({@code vmi-bridge/target/native/ring_producer}, the plugin's code path: reserve, fill, release) fills one lane
 * of 2^18 records; the benchmark drains it through {@link EventRing#poll} (the allocation-free flyweight the ring
 * thread uses) or {@link EventRing#drainTo} (an immutable copy per record). Producer time is not measured: this
 * is what the Java consumer can take, independent of how fast a guest produces.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class RingBenchmark {

    static final int RECORDS = 1 << 18;

    private Path file;
    private EventRing ring;
    private long sum;

    @Setup(Level.Trial)
    public void create() {
        file = Path.of("/dev/shm/periscope-bench-ring-" + ProcessHandle.current().pid());
        ring = EventRing.create(file, 1, RECORDS, RingToken.random());
    }

    @Setup(Level.Invocation)
    public void fill() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(producer().toString(), file.toString(), Integer.toString(RECORDS))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("ring_producer failed");
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        ring.close();
    }

    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public long flyweight() {
        int n = 0;
        while (n < RECORDS) {
            n += ring.poll(this::onRecord, RECORDS);
        }
        return sum;
    }

    private void onRecord(RingRecord r) {
        sum += r.syscallNumber() + r.arg(0);
    }

    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public void copied(Blackhole bh) {
        int n = 0;
        while (n < RECORDS) {
            n += ring.drainTo(bh::consume, RECORDS);
        }
    }

    /** ring_producer: $PERISCOPE_NATIVE_DIR, else vmi-bridge/target/native under periscope.repo or the working directory. */
    static Path producer() {
        String dir = System.getenv("PERISCOPE_NATIVE_DIR");
        Path native_ = dir != null && !dir.isBlank() ? Path.of(dir)
                : Path.of(System.getProperty("periscope.repo", ".")).resolve("vmi-bridge/target/native");
        Path p = native_.resolve("ring_producer");
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException("no " + p + " (./periscope build, or set PERISCOPE_NATIVE_DIR)");
        }
        return p;
    }
}
