package dev.periscope.bench;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import dev.periscope.vmi.linux.ProcessList;
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
 * A warm process list of a live lab guest. Target: <= 2 ms in the engine for ~100 tasks.
 * <ul>
 *   <li>{@code walk}: {@link LinuxModel#processes} over the live RAM mapping with a profile derived once (the
 *       engine's work alone: fresh translation caches, task walk, argv, creds);</li>
 *   <li>{@code engineLive}: {@link VmiEngine#processes} in LIVE mode (adds the attachment check: meta.json and
 *       /proc reads per call);</li>
 *   <li>{@code enginePause}: PAUSE mode (adds the QMP stop and cont round trips; the guest is stopped for the
 *       walk).</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ProcessListBenchmark {

    @State(Scope.Benchmark)
    public static class Live {
        MappedPhysicalMemory memory;
        KernelProfile profile;

        @Setup(Level.Trial)
        public void setUp() {
            String vm = Guest.vm();
            memory = MappedPhysicalMemory.map(Guest.ramPath(vm));
            profile = LinuxModel.profile(memory, new KernelProfileCache());
            LinuxModel.Processes p = LinuxModel.processes(memory, profile);
            System.out.printf("%n[processes] vm=%s %s: %d processes, %d tasks, %d warnings%n", vm,
                    profile.release(), p.processes().size(),
                    p.processes().stream().mapToInt(g -> g.threads().size()).sum(), p.warnings().size());
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            memory.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Engine {
        VmiEngine engine;
        String vm;

        @Setup(Level.Trial)
        public void setUp() {
            vm = Guest.vm();
            engine = new VmiEngine(new LabDriver(Guest.varDir()));
            ProcessList list = engine.processes(vm, AcquisitionMode.LIVE); // attach, derive the profile
            System.out.printf("%n[engine] vm=%s: %d processes%n", vm, list.processes().size());
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            engine.close();
        }
    }

    @Benchmark
    public LinuxModel.Processes walk(Live live) {
        return LinuxModel.processes(live.memory, live.profile);
    }

    @Benchmark
    public ProcessList engineLive(Engine e) {
        return e.engine.processes(e.vm, AcquisitionMode.LIVE);
    }

    @Benchmark
    public ProcessList enginePause(Engine e) {
        return e.engine.processes(e.vm, AcquisitionMode.PAUSE);
    }
}
