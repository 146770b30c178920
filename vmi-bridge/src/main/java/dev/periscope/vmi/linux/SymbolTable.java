package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Kernel symbols recovered from the guest's own kallsyms tables. Addresses are kept slide-independent (as
 * linked) and shifted by this table's KASLR slide on lookup, so one decoded table serves every VM running the
 * same kernel build ({@link #rebased}). Absolute symbols (per-CPU offsets) are never shifted. Immutable and
 * thread-safe.
 *
 * <p>Packed: names are Latin-1 bytes back to back with an open-addressing hash index over them, so a table is a
 * handful of primitive arrays that a {@link ProfileStore} writes and reads in bulk; a cold process that loads a
 * stored profile builds no map of 100,000+ strings before its first lookup.
 */
public final class SymbolTable {

    private static final long MAX_DISTANCE = 16L << 20;
    /** Longest symbol name accepted from a stored table (the kernel's KSYM_NAME_LEN is 512 since 6.1). */
    private static final int MAX_NAME = 1024;
    /** Latin-1 names back to back; name {@code i} is {@code nameBytes[nameStarts[i] .. nameStarts[i + 1])}. */
    private final byte[] nameBytes;
    private final int[] nameStarts;
    private final long[] linkAddresses;
    private final boolean[] absolute;
    /**
     * Open addressing over {@link #hash} of each name: a slot holds a symbol index + 1, or 0 when empty; a power of
     * two longer than the symbol count, so every probe sequence meets an empty slot. Holds the first symbol of each
     * name only.
     */
    private final int[] slots;
    /** Indices of relocatable symbols ordered by address, for nearest-symbol lookups. */
    private final int[] byAddress;
    private final long slide;

    SymbolTable(String[] names, long[] linkAddresses, boolean[] absolute, long slide) {
        if (names.length != linkAddresses.length || names.length != absolute.length) {
            throw new IllegalArgumentException("names, addresses and flags differ in length");
        }
        int[] starts = new int[names.length + 1];
        int total = 0;
        for (int i = 0; i < names.length; i++) {
            starts[i] = total;
            total += names[i].length();
        }
        starts[names.length] = total;
        byte[] bytes = new byte[total];
        for (int i = 0; i < names.length; i++) {
            byte[] b = names[i].getBytes(StandardCharsets.ISO_8859_1);
            System.arraycopy(b, 0, bytes, starts[i], b.length);
        }
        this.nameBytes = bytes;
        this.nameStarts = starts;
        this.linkAddresses = linkAddresses;
        this.absolute = absolute;
        this.slide = slide;
        this.slots = indexByName(bytes, starts);
        this.byAddress = sortedByAddress(linkAddresses, absolute);
    }

    private SymbolTable(byte[] nameBytes, int[] nameStarts, long[] linkAddresses, boolean[] absolute, int[] slots,
                        int[] byAddress, long slide) {
        this.nameBytes = nameBytes;
        this.nameStarts = nameStarts;
        this.linkAddresses = linkAddresses;
        this.absolute = absolute;
        this.slots = slots;
        this.byAddress = byAddress;
        this.slide = slide;
    }

    /**
     * A table from its packed parts as {@link ProfileStore} stored them, at slide 0. Stored files are hostile input:
     * every array is checked for what lookups rely on (lengths, bounds, name offsets in order, a hash index whose
     * every probe ends, an address order that is one), so a forged file fails here and never makes a lookup loop,
     * throw out of bounds or answer an index that is not a symbol.
     *
     * @throws GuestDataException the parts are inconsistent
     */
    static SymbolTable packed(byte[] nameBytes, int[] nameStarts, long[] linkAddresses, boolean[] absolute,
                              int[] slots, int[] byAddress) {
        int n = linkAddresses.length;
        if (nameStarts.length != n + 1 || absolute.length != n || nameStarts[0] != 0
                || nameStarts[n] != nameBytes.length) {
            throw new GuestDataException("symbol table: parts of different lengths");
        }
        for (int i = 0; i < n; i++) {
            if (nameStarts[i + 1] < nameStarts[i] || nameStarts[i + 1] - nameStarts[i] > MAX_NAME) {
                throw new GuestDataException("symbol table: name " + i + " out of order or too long");
            }
        }
        if (Integer.bitCount(slots.length) != 1 || slots.length <= n) {
            throw new GuestDataException("symbol table: hash index of " + slots.length + " slots for " + n + " names");
        }
        for (int s : slots) {
            if (s < 0 || s > n) {
                throw new GuestDataException("symbol table: hash index names symbol " + (s - 1) + " of " + n);
            }
        }
        long previous = 0;
        for (int k = 0; k < byAddress.length; k++) {
            int i = byAddress[k];
            if (i < 0 || i >= n || absolute[i] || (k > 0 && Long.compareUnsigned(previous, linkAddresses[i]) > 0)) {
                throw new GuestDataException("symbol table: address order broken at " + k);
            }
            previous = linkAddresses[i];
        }
        return new SymbolTable(nameBytes, nameStarts, linkAddresses, absolute, slots, byAddress, 0);
    }

    /** The first 31-based polynomial hash of Latin-1 bytes: String.hashCode of the same name. */
    private static int hash(byte[] bytes, int from, int to) {
        int h = 0;
        for (int i = from; i < to; i++) {
            h = 31 * h + (bytes[i] & 0xff);
        }
        return h;
    }

    private static int[] indexByName(byte[] bytes, int[] starts) {
        int n = starts.length - 1;
        int[] slots = new int[Integer.highestOneBit(Math.max(1, n) * 2) << 1];
        int mask = slots.length - 1;
        for (int i = 0; i < n; i++) {
            int slot = spread(hash(bytes, starts[i], starts[i + 1])) & mask;
            while (true) {
                int held = slots[slot];
                if (held == 0) {
                    slots[slot] = i + 1;
                    break;
                }
                if (sameName(bytes, starts, held - 1, i)) {
                    break; // keep the first symbol of a name
                }
                slot = (slot + 1) & mask;
            }
        }
        return slots;
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }

    private static boolean sameName(byte[] bytes, int[] starts, int a, int b) {
        return Arrays.equals(bytes, starts[a], starts[a + 1], bytes, starts[b], starts[b + 1]);
    }

    /** kallsyms is already sorted by address: keep that order when it holds, sort only when it does not. */
    private static int[] sortedByAddress(long[] addresses, boolean[] absolute) {
        int[] order = new int[addresses.length];
        int n = 0;
        boolean sorted = true;
        for (int i = 0; i < addresses.length; i++) {
            if (!absolute[i]) {
                if (n > 0 && Long.compareUnsigned(addresses[order[n - 1]], addresses[i]) > 0) {
                    sorted = false;
                }
                order[n++] = i;
            }
        }
        int[] result = Arrays.copyOf(order, n);
        if (!sorted) {
            result = Arrays.stream(result).boxed()
                    .sorted((a, b) -> Long.compareUnsigned(addresses[a], addresses[b]))
                    .mapToInt(Integer::intValue).toArray();
        }
        return result;
    }

    /** The same symbols for a kernel loaded with another KASLR slide. */
    SymbolTable rebased(long newSlide) {
        return newSlide == slide ? this
                : new SymbolTable(nameBytes, nameStarts, linkAddresses, absolute, slots, byAddress, newSlide);
    }

    public int size() {
        return linkAddresses.length;
    }

    public long slide() {
        return slide;
    }

    /** Index of the first symbol called {@code name}, or -1. */
    private int indexOf(String name) {
        int length = name.length();
        int mask = slots.length - 1;
        for (int slot = spread(name.hashCode()) & mask; ; slot = (slot + 1) & mask) {
            int held = slots[slot];
            if (held == 0) {
                return -1;
            }
            int i = held - 1;
            int start = nameStarts[i];
            if (nameStarts[i + 1] - start == length && matches(name, start)) {
                return i;
            }
        }
    }

    private boolean matches(String name, int start) {
        for (int k = 0; k < name.length(); k++) {
            if ((nameBytes[start + k] & 0xff) != name.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    /** Run-time address of the first symbol called {@code name}. */
    public OptionalLong address(String name) {
        int i = indexOf(name);
        if (i < 0) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(absolute[i] ? linkAddresses[i] : linkAddresses[i] + slide);
    }

    /** Address or a {@link GuestDataException} naming the missing symbol. */
    long require(String name) {
        return address(name).orElseThrow(() -> new GuestDataException("kernel symbol " + name + " not in kallsyms"));
    }

    /** The symbol at or below a run-time address, as {@code name+0xoffset}; empty outside the image (16 MiB slack). */
    public Optional<String> symbolAt(long address) {
        long link = address - slide;
        int lo = 0, hi = byAddress.length - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(linkAddresses[byAddress[mid]], link) <= 0) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (found < 0) {
            return Optional.empty();
        }
        int i = byAddress[found];
        long offset = link - linkAddresses[i];
        if (Long.compareUnsigned(offset, MAX_DISTANCE) > 0) {
            return Optional.empty(); // beyond the image (or below it, wrapped)
        }
        return Optional.of(offset == 0 ? name(i) : name(i) + "+0x" + Long.toHexString(offset));
    }

    /** Names in kallsyms order (for tests and diagnostics). */
    String name(int index) {
        return new String(nameBytes, nameStarts[index], nameStarts[index + 1] - nameStarts[index],
                StandardCharsets.ISO_8859_1);
    }

    // The packed parts, for ProfileStore (shared, never modified).
    byte[] nameBytes() {
        return nameBytes;
    }

    int[] nameStarts() {
        return nameStarts;
    }

    long[] linkAddresses() {
        return linkAddresses;
    }

    boolean[] absolute() {
        return absolute;
    }

    int[] slots() {
        return slots;
    }

    int[] byAddress() {
        return byAddress;
    }

    @Override
    public String toString() {
        return "SymbolTable[" + size() + " symbols, slide=0x" + Long.toHexString(slide) + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SymbolTable t && t.slide == slide && Arrays.equals(t.linkAddresses, linkAddresses)
                && Arrays.equals(t.nameStarts, nameStarts) && Arrays.equals(t.nameBytes, nameBytes)
                && Arrays.equals(t.absolute, absolute);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(linkAddresses) * 31 + Long.hashCode(slide);
    }
}
