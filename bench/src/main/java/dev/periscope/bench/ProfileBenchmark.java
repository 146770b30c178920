package dev.periscope.bench;

import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Deriving a kernel profile from a live lab guest's RAM (banner scan, KASLR, kallsyms, BTF).
 * {@code cold}: a new {@link KernelProfileCache} every call, target <= 3 s (single shots after two warm-up shots,
 * so the JIT is warm; the very first call in a fresh JVM is measured by {@link EngineEndToEnd}).
 * {@code warm}: the cache knows the build, only the per-boot values are re-derived, target <= 100 ms.
 */
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ProfileBenchmark {

    private MappedPhysicalMemory memory;
    private KernelProfileCache cache;

    @Setup(Level.Trial)
    public void setUp() {
        memory = MappedPhysicalMemory.map(Guest.ramPath(Guest.vm()));
        cache = new KernelProfileCache();
        KernelProfile p = LinuxModel.profile(memory, cache);
        System.out.printf("%n[profile] vm=%s %s, cold build %d ms%n", Guest.vm(), p.summary(),
                p.buildTime().toMillis());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
    }

    @Benchmark
    @BenchmarkMode(Mode.SingleShotTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 2)
    @Measurement(iterations = 8)
    public KernelProfile cold() {
        return LinuxModel.profile(memory, new KernelProfileCache());
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public KernelProfile warm() {
        KernelProfile p = LinuxModel.profile(memory, cache);
        if (!p.fromCache()) {
            throw new IllegalStateException("warm profile was not served from the cache");
        }
        return p;
    }
}
