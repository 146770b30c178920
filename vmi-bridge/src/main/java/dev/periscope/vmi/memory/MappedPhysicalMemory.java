package dev.periscope.vmi.memory;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.nativeapi.mman.Mman;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;

/**
 * Guest RAM mapped read-only from a file: a live RAM backing file (guest physical address == file offset) or
 * the pages region of a snapshot file (guest physical address == file offset - base). Owns its own shared arena:
 * {@link #close()} unmaps, and any read after that fails with {@link VmGoneException}. Thread-safe.
 */
public final class MappedPhysicalMemory extends SegmentMemory implements AutoCloseable {

    private static final long PAGE = 4096;

    private final Arena arena;
    private final Path file;
    private volatile boolean readAtRandom;

    private MappedPhysicalMemory(Arena arena, MemorySegment segment, Path file, BitSet present, long pageSize) {
        super(segment, present, pageSize);
        this.arena = arena;
        this.file = file;
    }

    /** Maps the whole file: guest physical address == file offset. */
    public static MappedPhysicalMemory map(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return map(channel, file, 0, channel.size(), null, 4096);
        } catch (NoSuchFileException e) {
            throw new VmGoneException("guest RAM file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot map guest RAM file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Maps {@code size} bytes of {@code file} from {@code fileOffset}: guest physical address 0 is at
     * {@code fileOffset}. Pages whose bit in {@code presentPages} is clear read as zeros; null means all present.
     */
    public static MappedPhysicalMemory map(Path file, long fileOffset, long size, BitSet presentPages, long pageSize) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (fileOffset < 0 || size < 0) {
                throw new IllegalArgumentException("negative offset or size");
            }
            return map(channel, file, fileOffset, size, presentPages == null ? null : (BitSet) presentPages.clone(),
                    pageSize);
        } catch (NoSuchFileException e) {
            throw new VmGoneException("guest memory file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot map guest memory file " + file + ": " + e.getMessage(), e);
        }
    }

    private static MappedPhysicalMemory map(FileChannel channel, Path file, long offset, long size, BitSet present,
                                            long pageSize) throws IOException {
        // A mapping past the end of the file would fault (SIGBUS) on first touch; refuse it up front.
        if (offset + size > channel.size()) {
            throw new PlatformUnavailableException("guest memory file " + file + " holds " + channel.size()
                    + " bytes, " + (offset + size) + " needed");
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment segment = channel.map(FileChannel.MapMode.READ_ONLY, offset, size, arena);
            return new MappedPhysicalMemory(arena, segment, file, present, pageSize);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Tells the kernel that this mapping is read at random, as a memory image on a disk is: a page fault then reads
     * the page it needs rather than megabytes of read-ahead around it (probing one page in each 2 MiB of a 512 MiB
     * image read 312 MiB of it without this, 0.6 MiB with it), while large copies and searches have their range
     * read as usual, ahead ({@link #willRead}). Advice only: a kernel that refuses it reads as before. Returns this
     * mapping.
     */
    public MappedPhysicalMemory readAtRandom() {
        readAtRandom = true;
        advise(0, size(), Mman.MADV_RANDOM());
        return this;
    }

    /** A range read whole is read as a file is read: with read-ahead, started now (a scan faults page after page). */
    @Override
    void willRead(long offset, long length) {
        if (readAtRandom && arena.scope().isAlive()) { // once unmapped, the addresses may be another mapping's
            advise(offset, length, Mman.MADV_NORMAL());
            advise(offset, length, Mman.MADV_WILLNEED());
        }
    }

    private void advise(long offset, long length, int advice) {
        long address = segment().address() + offset;
        long aligned = address & -PAGE; // the mapping starts on a page, so aligning down stays inside it
        // The result is ignored on purpose: advice that fails changes how fast pages come, never what they hold.
        Mman.madvise(MemorySegment.ofAddress(aligned), length + (address - aligned), advice);
    }

    /** The mapped file (for logs and diagnostics). */
    public Path file() {
        return file;
    }

    @Override
    String describe() {
        return "guest memory mapping of " + file;
    }

    /** Unmaps. Idempotent; concurrent readers see {@link VmGoneException}. */
    @Override
    public void close() {
        try {
            arena.close();
        } catch (IllegalStateException alreadyClosed) {
            // closing twice is harmless
        }
    }
}
