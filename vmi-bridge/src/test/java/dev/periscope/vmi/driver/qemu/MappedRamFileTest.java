package dev.periscope.vmi.driver.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A migration file laid out as QEMU 10.0.2 writes one (header bytes copied from a real snapshot). */
class MappedRamFileTest {

    @TempDir
    Path dir;

    @Test
    void findsTheGuestRamBlockAfterAnotherBlock() throws IOException {
        Path file = dir.resolve("snap.ram");
        writeSnapshot(file);
        var layout = MappedRamFile.read(file, "mem");
        assertThat(layout.length()).isEqualTo(8 * 4096);
        assertThat(layout.pageSize()).isEqualTo(4096);
        assertThat(layout.present().get(2)).isTrue();
        assertThat(layout.present().get(3)).isFalse();
        try (var memory = MappedPhysicalMemory.map(file, layout.pagesOffset(), layout.length(), layout.present(),
                layout.pageSize())) {
            assertThat(memory.indexOf("Linux version ".getBytes(StandardCharsets.US_ASCII), 0, memory.size()))
                    .isEqualTo(2 * 4096 + 100);
            assertThat(memory.readByte(3 * 4096)).as("stale data of a page absent from the bitmap").isZero();
        }
        assertThatThrownBy(() -> MappedRamFile.read(file, "nope")).isInstanceOf(PlatformUnavailableException.class);
    }

    /** QEMU 10.0.2's background snapshots leave the bitmap empty: then the file's holes are the zero pages. */
    @Test
    void anEmptyBitmapMeansThePagesAreAsInTheFile() throws IOException {
        Path file = dir.resolve("snap.ram");
        writeSnapshot(file);
        assertThat(MappedRamFile.read(file, "mem").present()).isNotNull();
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(0x110000 + 1 + 3 + 8 + 28); // the mem block's bitmap, right after its header
            raf.write(new byte[8]);
        }
        var unbitmapped = MappedRamFile.read(file, "mem");
        assertThat(unbitmapped.present()).isNull();
        try (var memory = MappedPhysicalMemory.map(file, unbitmapped.pagesOffset(), unbitmapped.length(), null,
                unbitmapped.pageSize())) {
            assertThat(memory.readByte(3 * 4096)).isEqualTo((byte) 's');
        }
    }

    @Test
    void rejectsWhatIsNotAMigrationStream() throws IOException {
        Path file = dir.resolve("junk");
        Files.write(file, new byte[4096]);
        assertThatThrownBy(() -> MappedRamFile.read(file, "mem")).isInstanceOf(PlatformUnavailableException.class);
    }

    /** Blocks "vga" (16 pages) then "mem" (8 pages); mem page 2 holds a banner, page 3 stale bytes. */
    private static void writeSnapshot(Path file) throws IOException {
        var head = new ByteArrayOutputStream();
        var out = new DataOutputStream(head);
        out.writeInt(0x5145564d);
        out.writeInt(3);
        out.write(0x07);
        out.writeInt(11);
        out.writeBytes("pc-q35-10.0");
        out.write(0x01);
        out.writeInt(1);
        out.write(3);
        out.writeBytes("ram");
        out.writeInt(0);
        out.writeInt(4);
        out.writeLong((24L * 4096) | 0x04);
        long vramHeader = head.size();
        out.write(3);
        out.writeBytes("vga");
        out.writeLong(16 * 4096);
        long vramBitmap = vramHeader + 1 + 3 + 8 + 28;
        long vramPages = 0x100000;
        writeHeader(out, vramBitmap, vramPages);
        long memHeader = vramPages + 16 * 4096;
        long memBitmap = memHeader + 1 + 3 + 8 + 28;
        long memPages = 0x200000;
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(head.toByteArray());
            var mem = new ByteArrayOutputStream();
            var memOut = new DataOutputStream(mem);
            memOut.write(3);
            memOut.writeBytes("mem");
            memOut.writeLong(8 * 4096);
            writeHeader(memOut, memBitmap, memPages);
            raf.seek(memHeader);
            raf.write(mem.toByteArray());
            raf.seek(memBitmap);
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0b0111).array());
            raf.seek(memPages + 2 * 4096 + 100);
            raf.writeBytes("Linux version 6.1.0");
            raf.seek(memPages + 3 * 4096);
            raf.writeBytes("stale");
            raf.setLength(memPages + 8 * 4096 + 200);
        }
    }

    private static void writeHeader(DataOutputStream out, long bitmapOffset, long pagesOffset) throws IOException {
        out.writeInt(1);
        out.writeLong(4096);
        out.writeLong(bitmapOffset);
        out.writeLong(pagesOffset);
    }
}
