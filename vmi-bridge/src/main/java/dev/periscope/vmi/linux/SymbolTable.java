package dev.periscope.vmi.linux;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Kernel symbols recovered from the guest's own kallsyms tables. Addresses are kept slide-independent (as
 * linked) and shifted by this table's KASLR slide on lookup, so one decoded table serves every VM running the
 * same kernel build ({@link #rebased}). Absolute symbols (per-CPU offsets) are never shifted. Immutable and
 * thread-safe.
 */
public final class SymbolTable {

    private static final long MAX_DISTANCE = 16L << 20;
    private final String[] names;
    private final long[] linkAddresses;
    private final boolean[] absolute;
    private final Map<String, Integer> byName;
    /** Indices of relocatable symbols ordered by address, for nearest-symbol lookups. */
    private final int[] byAddress;
    private final long slide;

    SymbolTable(String[] names, long[] linkAddresses, boolean[] absolute, long slide) {
        this.names = names;
        this.linkAddresses = linkAddresses;
        this.absolute = absolute;
        this.slide = slide;
        this.byName = new HashMap<>(names.length * 2);
        for (int i = 0; i < names.length; i++) {
            byName.putIfAbsent(names[i], i);
        }
        this.byAddress = sortedByAddress(linkAddresses, absolute);
    }

    private SymbolTable(SymbolTable other, long slide) {
        this.names = other.names;
        this.linkAddresses = other.linkAddresses;
        this.absolute = other.absolute;
        this.byName = other.byName;
        this.byAddress = other.byAddress;
        this.slide = slide;
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
        return newSlide == slide ? this : new SymbolTable(this, newSlide);
    }

    public int size() {
        return names.length;
    }

    public long slide() {
        return slide;
    }

    /** Run-time address of the first symbol called {@code name}. */
    public OptionalLong address(String name) {
        Integer i = byName.get(name);
        if (i == null) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(absolute[i] ? linkAddresses[i] : linkAddresses[i] + slide);
    }

    /** Address or a {@link dev.periscope.vmi.GuestDataException} naming the missing symbol. */
    long require(String name) {
        return address(name).orElseThrow(
                () -> new dev.periscope.vmi.GuestDataException("kernel symbol " + name + " not in kallsyms"));
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
        return Optional.of(offset == 0 ? names[i] : names[i] + "+0x" + Long.toHexString(offset));
    }

    /** Names in kallsyms order (for tests and diagnostics). */
    String name(int index) {
        return names[index];
    }

    @Override
    public String toString() {
        return "SymbolTable[" + names.length + " symbols, slide=0x" + Long.toHexString(slide) + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SymbolTable t && t.slide == slide && Arrays.equals(t.linkAddresses, linkAddresses)
                && Arrays.equals(t.names, names);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(linkAddresses) * 31 + Long.hashCode(slide);
    }
}
