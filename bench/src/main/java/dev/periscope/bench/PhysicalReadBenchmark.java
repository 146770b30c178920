package dev.periscope.bench;

import dev.periscope.vmi.memory.MappedPhysicalMemory;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Sequential guest RAM read through FFM: one operation copies the whole 512 MiB image in {@code chunk}-byte
 * reads, so throughput in GB/s is 0.537 / (seconds per operation). Target: >= 5 GB/s.
 * The image is a RAM-backed file in /dev/shm, as a lab guest's RAM is.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PhysicalReadBenchmark {

    static final long IMAGE_BYTES = 512L << 20;

    @Param({"4096", "65536"})
    int chunk;

    private Path image;
    private MappedPhysicalMemory memory;
    private byte[] buffer;

    @Setup(Level.Trial)
    public void createImage() throws IOException {
        image = Files.createTempFile(Path.of("/dev/shm"), "periscope-bench-", ".mem");
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            byte[] page = new byte[1 << 20];
            for (int i = 0; i < page.length; i++) {
                page[i] = (byte) (i * 31);
            }
            for (long written = 0; written < IMAGE_BYTES; written += page.length) {
                file.write(page);
            }
        }
        memory = MappedPhysicalMemory.map(image);
        buffer = new byte[chunk];
    }

    @TearDown(Level.Trial)
    public void deleteImage() throws IOException {
        memory.close();
        Files.deleteIfExists(image);
    }

    @Benchmark
    public long readWholeImage() {
        long checksum = 0;
        for (long address = 0; address < IMAGE_BYTES; address += chunk) {
            memory.read(address, buffer, 0, chunk);
            checksum += buffer[0];
        }
        return checksum;
    }
}
