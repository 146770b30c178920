package dev.periscope.vmi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MappedPhysicalMemoryTest {

    @TempDir
    Path dir;

    @Test
    void mapsAFileAsGuestPhysicalMemory() throws IOException {
        Path file = dir.resolve("ram");
        byte[] bytes = new byte[1 << 20];
        bytes[4096] = 0x11;
        bytes[4097] = 0x22;
        System.arraycopy("Linux version 6".getBytes(StandardCharsets.US_ASCII), 0, bytes, 900_000, 15);
        Files.write(file, bytes);
        try (var memory = MappedPhysicalMemory.map(file)) {
            assertThat(memory.size()).isEqualTo(1 << 20);
            assertThat(memory.readInt(4096)).isEqualTo(0x2211);
            assertThat(memory.indexOf("Linux version ".getBytes(StandardCharsets.US_ASCII), 0, memory.size()))
                    .isEqualTo(900_000);
            assertThatThrownBy(() -> memory.readLong(memory.size() - 4)).isInstanceOf(PageNotPresentException.class);
        }
    }

    @Test
    void anImageReadAtRandomIsAdvisedSoAndFindsWhatStraddlesASearchStep() throws IOException {
        Path file = dir.resolve("image");
        byte[] bytes = new byte[(int) (2 * SegmentMemory.SCAN_STEP + 8192)];
        byte[] needle = "Linux version ".getBytes(StandardCharsets.US_ASCII);
        int straddling = (int) SegmentMemory.SCAN_STEP - 5; // starts in the first step, ends in the second
        System.arraycopy(needle, 0, bytes, straddling, needle.length);
        System.arraycopy(needle, 0, bytes, bytes.length - needle.length, needle.length);
        bytes[bytes.length - needle.length - 1] = 0x7f;
        Files.write(file, bytes);
        try (var memory = MappedPhysicalMemory.map(file, 4096, bytes.length - 4096, null, 4096).readAtRandom()) {
            assertThat(vmFlags(memory)).as("the kernel's flags of the mapping").contains("rr");
            assertThat(memory.indexOf(needle, 0, memory.size())).isEqualTo(straddling - 4096);
            assertThat(memory.indexOf(needle, straddling - 4096 + 1, memory.size()))
                    .isEqualTo(memory.size() - needle.length);
            byte[] large = new byte[SegmentMemory.LARGE_READ * 2];
            memory.read(memory.size() - large.length, large, 0, large.length);
            assertThat(large[large.length - needle.length - 1]).isEqualTo((byte) 0x7f);
        }
        try (var memory = MappedPhysicalMemory.map(file)) {
            assertThat(vmFlags(memory)).as("live RAM is not advised").doesNotContain("rr");
        }
    }

    /** The VmFlags line of the mapping in /proc/self/smaps ("rr": read at random). */
    private static String vmFlags(MappedPhysicalMemory memory) throws IOException {
        String start = Long.toHexString(memory.segment().address() & -4096L) + "-";
        boolean inMapping = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (Character.isDigit(line.charAt(0)) || (line.charAt(0) >= 'a' && line.charAt(0) <= 'f')) {
                inMapping = line.startsWith(start);
            } else if (inMapping && line.startsWith("VmFlags:")) {
                return line;
            }
        }
        throw new AssertionError("no mapping at " + start + " in /proc/self/smaps");
    }

    @Test
    void readsAfterCloseMeanTheVmIsGone() throws IOException {
        Path file = dir.resolve("ram");
        Files.write(file, new byte[8192]);
        var memory = MappedPhysicalMemory.map(file);
        memory.close();
        memory.close();
        assertThatThrownBy(() -> memory.readLong(0)).isInstanceOf(VmGoneException.class);
        assertThatThrownBy(() -> memory.indexOf(new byte[] {1}, 0, 100)).isInstanceOf(VmGoneException.class);
    }

    @Test
    void aMissingFileMeansTheVmIsGone() {
        assertThatThrownBy(() -> MappedPhysicalMemory.map(dir.resolve("absent")))
                .isInstanceOf(VmGoneException.class);
    }

    @Test
    void mapsARegionWithAnOffsetAndAPresenceBitmap() throws IOException {
        Path file = dir.resolve("snap");
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(0x100000 + 3 * 4096);
            raf.seek(0x100000 + 4096 + 8);
            raf.write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
            raf.seek(0x100000 + 2 * 4096);
            raf.write(new byte[] {9, 9});
        }
        BitSet present = new BitSet();
        present.set(1);
        try (var memory = MappedPhysicalMemory.map(file, 0x100000, 3 * 4096, present, 4096)) {
            assertThat(memory.size()).isEqualTo(3 * 4096);
            assertThat(memory.readLong(4096 + 8)).isEqualTo(0x0807_0605_0403_0201L);
            assertThat(memory.readByte(2 * 4096)).isZero(); // written, but absent from the bitmap
        }
        assertThatThrownBy(() -> MappedPhysicalMemory.map(file, 0x100000, 4 * 4096, null, 4096))
                .isInstanceOf(PlatformUnavailableException.class);
    }

    /** Rough throughput of the banner scan over a 512 MiB file with no match (printed, never asserted). */
    @Test
    void indexOfThroughput() throws IOException {
        Path file = dir.resolve("big");
        long size = 512L << 20;
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
            byte[] noise = new byte[1 << 20];
            new Random(1).nextBytes(noise);
            for (int i = 0; i < noise.length; i++) {
                if (noise[i] == 'L') {
                    noise[i] = 'M';
                }
            }
            for (long o = 0; o < size; o += noise.length) {
                raf.seek(o);
                raf.write(noise);
            }
        }
        byte[] needle = "Linux version ".getBytes(StandardCharsets.US_ASCII);
        try (var memory = MappedPhysicalMemory.map(file)) {
            double best = 0;
            for (int round = 0; round < 4; round++) {
                long t0 = System.nanoTime();
                assertThat(memory.indexOf(needle, 0, size)).isEqualTo(-1);
                double gbPerS = size / ((System.nanoTime() - t0) / 1e9) / 1e9;
                best = Math.max(best, gbPerS);
            }
            System.out.printf("indexOf over 512 MiB of random bytes: %.2f GB/s (best of 4)%n", best);
        }
    }
}
