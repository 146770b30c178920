package dev.periscope.vmi.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.BitSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ByteArrayPhysicalMemoryTest {

    @Test
    void readsLittleEndianValues() {
        var memory = ByteArrayPhysicalMemory.ofSize(64).writeLong(8, 0x0102_0304_0506_0708L);
        assertThat(memory.readByte(8)).isEqualTo((byte) 0x08);
        assertThat(memory.readInt(8)).isEqualTo(0x0506_0708);
        assertThat(memory.readLong(8)).isEqualTo(0x0102_0304_0506_0708L);
        assertThat(memory.readLong(9)).isEqualTo(0x0001_0203_0405_0607L);
    }

    @Test
    void outOfRangeIsNotPresent() {
        var memory = ByteArrayPhysicalMemory.ofSize(64);
        assertThatThrownBy(() -> memory.readLong(57)).isInstanceOf(PageNotPresentException.class);
        assertThatThrownBy(() -> memory.readByte(-1)).isInstanceOf(PageNotPresentException.class);
        assertThatThrownBy(() -> memory.readInt(Long.MAX_VALUE)).isInstanceOf(PageNotPresentException.class);
        assertThatThrownBy(() -> memory.read(60, new byte[8], 0, 8)).isInstanceOf(PageNotPresentException.class);
        assertThat(memory.readLong(56)).isZero();
    }

    @Test
    void findsBannerAndRespectsBounds() {
        byte[] banner = "Linux version 6.1.0".getBytes(StandardCharsets.US_ASCII);
        var memory = ByteArrayPhysicalMemory.ofSize(1 << 16).write(40_001, banner);
        byte[] needle = "Linux version ".getBytes(StandardCharsets.US_ASCII);
        assertThat(memory.indexOf(needle, 0, 1 << 16)).isEqualTo(40_001);
        assertThat(memory.indexOf(needle, 40_001, 40_001 + needle.length)).isEqualTo(40_001);
        assertThat(memory.indexOf(needle, 40_001, 40_001 + needle.length - 1)).isEqualTo(-1);
        assertThat(memory.indexOf(needle, 40_002, 1 << 16)).isEqualTo(-1);
        assertThat(memory.indexOf(needle, -5, Long.MAX_VALUE)).isEqualTo(40_001);
    }

    @Test
    void absentPagesOfASparseImageReadAsZeros() {
        byte[] bytes = new byte[3 * 4096];
        Arrays.fill(bytes, (byte) 0x55);
        BitSet present = new BitSet();
        present.set(0);
        present.set(2);
        var memory = new ByteArrayPhysicalMemory(bytes, present);
        assertThat(memory.readByte(4096)).isZero();
        assertThat(memory.readLong(4092)).isEqualTo(0x0000_0000_5555_5555L);
        byte[] out = new byte[4096 + 8];
        memory.read(4092, out, 0, out.length);
        assertThat(out[0]).isEqualTo((byte) 0x55);
        assertThat(out[4]).isZero();
        assertThat(out[4096 + 4]).isEqualTo((byte) 0x55);
        assertThat(memory.indexOf(new byte[] {0x55, 0x55}, 4000, bytes.length)).isEqualTo(4000);
        assertThat(memory.indexOf(new byte[] {0x55, 0x55}, 4095, bytes.length)).isEqualTo(8192);
        assertThat(memory.indexOf(new byte[] {0x55, 0, 0}, 0, bytes.length)).isEqualTo(4095);
    }

    /** The word-at-a-time search agrees with a naive one at every alignment and with every byte value. */
    @Property(tries = 300)
    void indexOfMatchesNaiveSearch(@ForAll("haystacks") byte[] haystack, @ForAll("needles") byte[] needle,
                                   @ForAll @IntRange(min = 0, max = 300) int from) {
        var memory = new ByteArrayPhysicalMemory(haystack);
        assertThat(memory.indexOf(needle, from, haystack.length)).isEqualTo(naive(haystack, needle, from));
    }

    @Provide
    Arbitrary<byte[]> haystacks() {
        // A small alphabet so that needles actually occur.
        return Arbitraries.bytes().between((byte) 0, (byte) 3).array(byte[].class).ofMinSize(0).ofMaxSize(300);
    }

    @Provide
    Arbitrary<byte[]> needles() {
        return Arbitraries.bytes().between((byte) 0, (byte) 3).array(byte[].class).ofMinSize(1).ofMaxSize(5);
    }

    private static long naive(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int p = from; p <= haystack.length - needle.length; p++) {
            for (int i = 0; i < needle.length; i++) {
                if (haystack[p + i] != needle[i]) {
                    continue outer;
                }
            }
            return p;
        }
        return -1;
    }
}
