package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

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
public record MappedRamFile(String blockId, long length, long pageSize, long pagesOffset, BitSet present) {

    private static final int SEARCH_WINDOW = 64 * 1024;
    private static final long MEM_SIZE_FLAG = 0x04;
    private static final int MAX_BLOCKS = 1024;
    /** Largest page bitmap read (one bit per page: 1 TiB of 4 KiB pages). */
    private static final long MAX_BITMAP = 32L << 20;
    private static final int CONFIGURATION = 0x07;

    /**
     * What a mapped-ram migration file holds: the machine type QEMU wrote into its configuration section (e.g.
     * "pc-q35-10.0"; empty when absent) and every RAM block (guest RAM, ROMs, video memory), in file order.
     */
    public record Listing(String machineType, List<MappedRamFile> blocks) {
    }

    /** One RAM block of the file. */
    static MappedRamFile read(Path file, String blockId) {
        return list(file).blocks().stream().filter(b -> b.blockId().equals(blockId)).findFirst()
                .orElseThrow(() -> bad(file, "no RAM block \"" + blockId + "\""));
    }

    /**
     * Lists a mapped-ram file's blocks. The file is untrusted: block count, sizes and offsets are checked against
     * the file's size, so a damaged or forged file fails here and never maps past its end.
     *
     * @throws PlatformUnavailableException not a mapped-ram migration file, or a damaged one
     */
    public static Listing list(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long fileSize = channel.size();
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(SEARCH_WINDOW, fileSize));
            channel.read(head, 0);
            head.flip();
            if (head.remaining() < 8 || head.getInt(0) != 0x5145564d) { // "QEVM"
                throw bad(file, "not a QEMU migration stream");
            }
            long position = ramSection(head, file);
            long first = readLong(channel, position);
            long total = first & ~0xfffL;
            if ((first & MEM_SIZE_FLAG) == 0) {
                throw bad(file, "RAM section does not start with the block list");
            }
            position += 8;
            long seen = 0;
            List<MappedRamFile> blocks = new ArrayList<>();
            while (seen < total) {
                if (blocks.size() == MAX_BLOCKS) {
                    throw bad(file, "more than " + MAX_BLOCKS + " RAM blocks");
                }
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
                if (version != 1 || Long.bitCount(pageSize) != 1 || pageSize < 4096) {
                    throw bad(file, "unsupported MappedRamHeader (version " + version + ") for block " + idstr);
                }
                if (used <= 0 || used % pageSize != 0 || pagesOffset <= position || pagesOffset > fileSize
                        || used > fileSize - pagesOffset || used > total - seen || bitmapOffset < 0
                        || (used / pageSize + 7) / 8 > MAX_BITMAP || bitmapOffset > fileSize) {
                    throw bad(file, "block " + idstr + " (0x" + Long.toHexString(used) + " bytes at 0x"
                            + Long.toHexString(pagesOffset) + ") does not fit the file's " + fileSize + " bytes");
                }
                blocks.add(new MappedRamFile(idstr, used, pageSize, pagesOffset,
                        bitmap(channel, bitmapOffset, used / pageSize)));
                seen += used;
                position = pagesOffset + used;
            }
            return new Listing(machineType(head), List.copyOf(blocks));
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot read snapshot file " + file + ": " + e.getMessage(), e);
        }
    }

    /** The configuration section right after the header: 0x07, u32 length, the machine type's name. */
    private static String machineType(ByteBuffer head) {
        if (head.limit() < 13 || head.get(8) != CONFIGURATION) {
            return "";
        }
        int length = head.getInt(9);
        if (length <= 0 || length > 256 || 13 + length > head.limit()) {
            return "";
        }
        byte[] name = new byte[length];
        head.get(13, name);
        return new String(name, StandardCharsets.US_ASCII);
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
