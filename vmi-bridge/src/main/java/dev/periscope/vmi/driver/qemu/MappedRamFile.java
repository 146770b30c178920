package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;

/**
 * Where one RAM block lives in a QEMU migration file written with the mapped-ram capability (QEMU 9+,
 * migration/ram.c {@code mapped_ram_setup_ramblock}). The stream is big-endian:
 * <pre>
 *   "QEVM" u32 version, configuration section, ...
 *   0x01 (SECTION_START) u32 section-id, u8 len "ram", u32 instance, u32 version,
 *   u64 (total RAM | RAM_SAVE_FLAG_MEM_SIZE 0x04), then per block:
 *     u8 len, idstr, u64 used_length, MappedRamHeader (packed: u32 version=1, u64 page_size,
 *     u64 bitmap_offset, u64 pages_offset), the pages at pages_offset (1 MiB aligned), next block after them
 * </pre>
 * The bitmap holds one bit per page that was written, as host {@code unsigned long}s (little-endian here);
 * pages without a bit are zero in the guest (QEMU does not write zero pages).
 *
 * <p>QEMU 10.0.2 leaves the bitmap all zeros when the file comes from a background snapshot (seen: every page
 * of every block absent although 85 MB of pages were written). An empty bitmap is therefore ignored: the file is
 * created fresh for each snapshot and a background snapshot writes each page at most once, so a page QEMU never
 * wrote is a hole in the file and reads as zeros anyway. {@link #present()} is then null (all pages as in the
 * file).
 */
record MappedRamFile(String blockId, long length, long pageSize, long pagesOffset, BitSet present) {

    private static final int SEARCH_WINDOW = 64 * 1024;
    private static final long MEM_SIZE_FLAG = 0x04;

    static MappedRamFile read(Path file, String blockId) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(SEARCH_WINDOW, channel.size()));
            channel.read(head, 0);
            head.flip();
            if (head.remaining() < 8 || head.getInt(0) != 0x5145564d) { // "QEVM"
                throw bad(file, "not a QEMU migration stream");
            }
            long position = ramSection(head, file);
            long total = readLong(channel, position) & ~0xfffL;
            if ((readLong(channel, position) & MEM_SIZE_FLAG) == 0) {
                throw bad(file, "RAM section does not start with the block list");
            }
            position += 8;
            long seen = 0;
            while (seen < total) {
                ByteBuffer block = read(channel, position, 1 + 255 + 8 + 28);
                int idLength = block.get() & 0xff;
                byte[] id = new byte[idLength];
                block.get(id);
                long used = block.getLong();
                int version = block.getInt();
                long pageSize = block.getLong();
                long bitmapOffset = block.getLong();
                long pagesOffset = block.getLong();
                String idstr = new String(id, StandardCharsets.US_ASCII);
                if (version != 1 || Long.bitCount(pageSize) != 1) {
                    throw bad(file, "unsupported MappedRamHeader (version " + version + ") for block " + idstr);
                }
                if (idstr.equals(blockId)) {
                    return new MappedRamFile(idstr, used, pageSize, pagesOffset,
                            bitmap(channel, bitmapOffset, used / pageSize));
                }
                seen += used;
                position = pagesOffset + used;
            }
            throw bad(file, "no RAM block \"" + blockId + "\"");
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot read snapshot file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Finds the SECTION_START of the "ram" section and returns the offset of what follows its header. */
    private static long ramSection(ByteBuffer head, Path file) {
        byte[] bytes = new byte[head.remaining()];
        head.duplicate().get(bytes);
        for (int i = 8; i + 17 <= bytes.length; i++) {
            if (bytes[i] == 0x01 && bytes[i + 5] == 3 && bytes[i + 6] == 'r' && bytes[i + 7] == 'a'
                    && bytes[i + 8] == 'm') {
                return i + 1 + 4 + 1 + 3 + 4 + 4;
            }
        }
        throw bad(file, "no RAM section in the first " + bytes.length + " bytes");
    }

    private static BitSet bitmap(FileChannel channel, long offset, long pages) throws IOException {
        int bytes = (int) (((pages + 63) / 64) * 8);
        ByteBuffer buffer = read(channel, offset, bytes).order(ByteOrder.nativeOrder());
        long[] words = new long[bytes / 8];
        buffer.asLongBuffer().get(words);
        BitSet present = BitSet.valueOf(words);
        return present.isEmpty() ? null : present;
    }

    private static long readLong(FileChannel channel, long position) throws IOException {
        return read(channel, position, 8).getLong();
    }

    private static ByteBuffer read(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                break;
            }
        }
        return buffer.rewind(); // big-endian, as the migration stream; zeros past the end of the file
    }

    private static PlatformUnavailableException bad(Path file, String why) {
        return new PlatformUnavailableException("snapshot file " + file + ": " + why);
    }
}
