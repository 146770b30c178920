package dev.periscope.vmi.memory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Where guest RAM sits in guest physical address space: the RAM blocks that hold it (QEMU's RAM blocks, a memory
 * file) and the guest-physical ranges each block backs. A q35 guest with more than 2816 MiB has one block split
 * around the hole below 4 GiB (its first 2 GiB at 0, the rest from 4 GiB up); memory devices add blocks. An
 * address in no range is a hole (MMIO, firmware) and reads as {@link dev.periscope.vmi.PageNotPresentException}.
 *
 * <p>Validated when built: ranges page aligned, disjoint, each inside its block; adjacent ranges that continue
 * each other in the same block are merged, so a guest whose RAM is one piece from address 0 has one range.
 * Immutable and thread-safe.
 */
public final class RamLayout {

    public static final long PAGE = 4096;

    /**
     * One RAM block.
     *
     * @param name        its name (QEMU's RAM block id, e.g. "pc.ram" or a memory backend's id)
     * @param length      bytes in use
     * @param hostAddress where the block is mapped in the process that holds it (QEMU's HVA), or -1 when unknown
     */
    public record Block(String name, long length, long hostAddress) {
        public Block {
            Objects.requireNonNull(name, "name");
            if (length <= 0 || length % PAGE != 0) {
                throw new IllegalArgumentException("RAM block " + name + ": length " + length
                        + " is not a positive multiple of " + PAGE);
            }
        }
    }

    /** Guest physical {@code [guestPhysical, guestPhysical + length)} is block bytes from {@code blockOffset}. */
    public record Range(long guestPhysical, long length, String block, long blockOffset) {
        public Range {
            Objects.requireNonNull(block, "block");
            if (guestPhysical < 0 || length <= 0 || blockOffset < 0 || guestPhysical % PAGE != 0
                    || length % PAGE != 0 || blockOffset % PAGE != 0 || guestPhysical + length < 0) {
                throw new IllegalArgumentException(String.format("range 0x%x+0x%x of block %s at 0x%x is not page "
                        + "aligned and positive", guestPhysical, length, block, blockOffset));
            }
        }

        public long end() {
            return guestPhysical + length;
        }
    }

    private final Map<String, Block> blocks;
    private final List<Range> ranges;

    private RamLayout(Map<String, Block> blocks, List<Range> ranges) {
        this.blocks = blocks;
        this.ranges = ranges;
    }

    /**
     * A validated layout.
     *
     * @throws IllegalArgumentException ranges overlap, name a block not given, or leave their block
     */
    public static RamLayout of(List<Block> blocks, List<Range> ranges) {
        Map<String, Block> byName = new LinkedHashMap<>();
        for (Block b : blocks) {
            if (byName.put(b.name(), b) != null) {
                throw new IllegalArgumentException("RAM block " + b.name() + " listed twice");
            }
        }
        List<Range> sorted = new ArrayList<>(ranges);
        sorted.sort(Comparator.comparingLong(Range::guestPhysical));
        List<Range> merged = new ArrayList<>();
        for (Range r : sorted) {
            Block b = byName.get(r.block());
            if (b == null) {
                throw new IllegalArgumentException("range at 0x" + Long.toHexString(r.guestPhysical())
                        + " names unknown RAM block " + r.block());
            }
            if (r.blockOffset() + r.length() > b.length()) {
                throw new IllegalArgumentException(String.format("range 0x%x+0x%x ends past RAM block %s (0x%x bytes)",
                        r.guestPhysical(), r.length(), b.name(), b.length()));
            }
            Range last = merged.isEmpty() ? null : merged.getLast();
            if (last != null && r.guestPhysical() < last.end()) {
                throw new IllegalArgumentException(String.format("ranges at 0x%x and 0x%x overlap",
                        last.guestPhysical(), r.guestPhysical()));
            }
            if (last != null && last.end() == r.guestPhysical() && last.block().equals(r.block())
                    && last.blockOffset() + last.length() == r.blockOffset()) {
                merged.set(merged.size() - 1, new Range(last.guestPhysical(), last.length() + r.length(),
                        last.block(), last.blockOffset()));
            } else {
                merged.add(r);
            }
        }
        if (merged.isEmpty()) {
            throw new IllegalArgumentException("no guest RAM in the layout");
        }
        return new RamLayout(Collections.unmodifiableMap(byName), List.copyOf(merged));
    }

    /** One block holding all guest RAM from guest physical address 0 (offset == address), as in a raw image. */
    public static RamLayout linear(String block, long length) {
        return of(List.of(new Block(block, length, -1)), List.of(new Range(0, length, block, 0)));
    }

    public List<Range> ranges() {
        return ranges;
    }

    public Optional<Block> block(String name) {
        return Optional.ofNullable(blocks.get(name));
    }

    /** Every guest RAM block, in the order given. */
    public List<Block> blocks() {
        return List.copyOf(blocks.values());
    }

    /** Bytes of RAM the blocks hold (the VM's memory size, including what no range shows the guest). */
    public long ramBytes() {
        return blocks().stream().mapToLong(Block::length).sum();
    }

    /** Bytes of RAM the guest can address (what the ranges cover). */
    public long mappedBytes() {
        return ranges.stream().mapToLong(Range::length).sum();
    }

    /** Highest guest physical address backed by RAM, plus one: {@link PhysicalMemory#size()} of the assembled view. */
    public long limit() {
        return ranges.getLast().end();
    }

    /** Whether guest physical address == offset in the one block, for all of it. */
    public boolean isLinear() {
        Range only = ranges.getFirst();
        return ranges.size() == 1 && only.guestPhysical() == 0 && only.blockOffset() == 0
                && only.length() == blocks.get(only.block()).length();
    }

    /**
     * Guest physical memory as this layout lays it out, each block read from {@code blockMemories} (addressed by
     * offset in the block, as long as the block). A view: the block memories stay the caller's to close. A linear
     * layout is its one block memory itself, so the common case costs nothing.
     *
     * @throws IllegalArgumentException a block memory is missing or of another size than its block
     */
    public PhysicalMemory assemble(Map<String, ? extends PhysicalMemory> blockMemories) {
        for (Block b : ranges.stream().map(Range::block).distinct().map(blocks::get).toList()) {
            PhysicalMemory m = blockMemories.get(b.name());
            if (m == null) {
                throw new IllegalArgumentException("no memory for RAM block " + b.name());
            }
            if (m.size() != b.length()) {
                throw new IllegalArgumentException("RAM block " + b.name() + " is 0x" + Long.toHexString(b.length())
                        + " bytes, its memory 0x" + Long.toHexString(m.size()));
            }
        }
        if (isLinear()) {
            return blockMemories.get(ranges.getFirst().block());
        }
        return new LayoutMemory(this, blockMemories);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RamLayout other && blocks().equals(other.blocks()) && ranges.equals(other.ranges);
    }

    @Override
    public int hashCode() {
        return ranges.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("RamLayout[");
        for (Range r : ranges) {
            if (s.length() > 10) {
                s.append(", ");
            }
            s.append(String.format("0x%x-0x%x %s@0x%x", r.guestPhysical(), r.end() - 1, r.block(), r.blockOffset()));
        }
        return s.append(']').toString();
    }
}
