package dev.periscope.bench;

import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
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
 * Virtual-to-physical translation in a live lab guest's kernel address space ({@code init_top_pgt} found by
 * the profile, over the VM's RAM file), round robin over a few hundred kernel symbol addresses.
 * Target: cached translation <= 100 ns. The uncached variants show what the cache saves:
 * {@code uncachedInvalidate} calls {@link X86AddressSpace#invalidate()} before every translation (so it also
 * pays for a fresh 4096-entry cache array), {@code missWalk} cycles through addresses that evict each other
 * from one cache slot (a page walk and one cache fill per call, nothing else).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TranslationBenchmark {

    private MappedPhysicalMemory memory;
    private X86AddressSpace kernel;
    private long[] symbols;
    private long[] colliding;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        String vm = Guest.vm();
        memory = MappedPhysicalMemory.map(Guest.ramPath(vm));
        KernelProfile profile = LinuxModel.profile(memory, new KernelProfileCache());
        kernel = X86AddressSpace.fourLevel(memory, profile.kernelDtb());
        symbols = Guest.kernelSymbolAddresses(profile, memory, 400);
        colliding = Guest.collidingDirectMapAddresses(profile, memory);
        System.out.printf("%n[translation] vm=%s %s: %d symbol addresses, %d colliding direct-map addresses%n",
                vm, profile.summary(), symbols.length, colliding.length);
        for (long a : symbols) {
            kernel.translate(a); // fill the cache
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
    }

    private long nextSymbol() {
        int i = next;
        next = i + 1 == symbols.length ? 0 : i + 1;
        return symbols[i];
    }

    @Benchmark
    public long cached() {
        return kernel.translate(nextSymbol());
    }

    /** 8 bytes read through a cached translation: translate plus one FFM read of guest RAM. */
    @Benchmark
    public long cachedReadLong() {
        return kernel.readLong(nextSymbol());
    }

    @Benchmark
    public long uncachedInvalidate() {
        kernel.invalidate();
        return kernel.translate(nextSymbol());
    }

    @Benchmark
    public long missWalk() {
        int i = next;
        next = i + 1 >= colliding.length ? 0 : i + 1;
        return kernel.translate(colliding[i]);
    }
}
