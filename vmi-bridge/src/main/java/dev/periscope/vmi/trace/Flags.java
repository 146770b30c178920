package dev.periscope.vmi.trace;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;

/**
 * A bit set of named flags as strace prints it: names in table order joined by {@code |}, bits without a name in
 * hex at the end, the zero name (e.g. {@code PROT_NONE}) or {@code 0} for no bits. Some words carry a value field
 * beside the bits ({@code O_ACCMODE}, the mapping type of {@code MAP_*}, {@code CSIGNAL}): it is printed by its own
 * renderer, before the bits or after them. Immutable.
 */
final class Flags {

    private final String zero;
    private final String[] names;
    private final long[] bits;
    private final long fieldMask;
    private final LongFunction<String> field;
    private final boolean fieldLast;

    private Flags(String zero, String[] names, long[] bits, long fieldMask, LongFunction<String> field,
                  boolean fieldLast) {
        this.zero = zero;
        this.names = names;
        this.bits = bits;
        this.fieldMask = fieldMask;
        this.field = field;
        this.fieldLast = fieldLast;
    }

    /** Flags from alternating names and bit values ({@code "PROT_READ", 0x1, ...}); {@code zero} names 0, or null. */
    static Flags of(String zero, Object... namesAndBits) {
        Map<String, Long> m = pairs(namesAndBits);
        return new Flags(zero, m.keySet().toArray(String[]::new), m.values().stream().mapToLong(Long::longValue)
                .toArray(), 0, null, false);
    }

    /** These flags with a value field {@code mask} printed by {@code render}, first (or last, e.g. CSIGNAL). */
    Flags withField(long mask, LongFunction<String> render, boolean last) {
        return new Flags(zero, names, bits, mask, render, last);
    }

    String render(long v) {
        List<String> parts = new ArrayList<>();
        long rest = v & ~fieldMask;
        for (int i = 0; i < names.length; i++) {
            if (bits[i] != 0 && (rest & bits[i]) == bits[i]) {
                parts.add(names[i]);
                rest &= ~bits[i];
            }
        }
        if (rest != 0) {
            parts.add("0x" + Long.toHexString(rest));
        }
        if (field != null) {
            String f = field.apply(v & fieldMask);
            if (f != null) {
                parts.add(fieldLast ? parts.size() : 0, f);
            }
        }
        if (parts.isEmpty()) {
            return zero != null ? zero : "0";
        }
        return String.join("|", parts);
    }

    /** Names of single values (not bits): {@code SEEK_SET}, {@code F_GETFL}; others print as a number. */
    static final class Values {
        private final Map<Long, String> names;

        private Values(Map<Long, String> names) {
            this.names = names;
        }

        static Values of(Object... namesAndValues) {
            Map<Long, String> m = new LinkedHashMap<>();
            pairs(namesAndValues).forEach((n, v) -> m.putIfAbsent(v, n));
            return new Values(Map.copyOf(m));
        }

        /** The name of {@code v}, or null. */
        String name(long v) {
            return names.get(v);
        }

        /** The name of {@code v}, else {@code v} in decimal. */
        String render(long v) {
            String n = names.get(v);
            return n != null ? n : Long.toString(v);
        }

        /** The name of {@code v}, else {@code v} in hex. */
        String renderHex(long v) {
            String n = names.get(v);
            return n != null ? n : "0x" + Long.toHexString(v);
        }
    }

    private static Map<String, Long> pairs(Object[] namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("names and values in pairs");
        }
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            m.put((String) namesAndValues[i], ((Number) namesAndValues[i + 1]).longValue());
        }
        return m;
    }
}
