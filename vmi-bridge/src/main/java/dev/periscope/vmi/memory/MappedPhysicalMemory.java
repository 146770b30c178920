package dev.periscope.vmi.memory;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
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

    private final Arena arena;
    private final Path file;

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
