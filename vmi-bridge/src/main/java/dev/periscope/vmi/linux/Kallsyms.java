package dev.periscope.vmi.linux;

import java.nio.charset.StandardCharsets;

/**
 * Decodes the kernel's compressed symbol tables (scripts/kallsyms.c output) found in a window of guest memory.
 *
 * <p>Located from the token table alone, so it works whatever order the tables were emitted in:
 * <ul>
 *   <li>{@code kallsyms_token_table}: 256 NUL-terminated tokens; digits are never compressed, so the tokens for
 *       bytes '0'..'9' read {@code "0\0" "1\0" ... "9\0"} (the search key); {@code kallsyms_token_index} (256
 *       u16 offsets, first 0) follows 8-aligned and must agree with the tokens.</li>
 *   <li>{@code kallsyms_markers} (u32: offset of every 256th name) ends before the token table; 6.1 (Debian
 *       6.1.x has the seqs backport) puts {@code kallsyms_seqs_of_names} (3 bytes per symbol) between them,
 *       6.12 puts it after {@code kallsyms_relative_base}.</li>
 *   <li>{@code kallsyms_num_syms} (u32, 8-aligned) then {@code kallsyms_names}: length-prefixed token strings,
 *       a length with bit 7 set takes a second byte (big symbols, 6.1+). Every marker must match the decoded
 *       name positions: that is the proof the tables were found.</li>
 *   <li>{@code kallsyms_offsets} (s32 per symbol) and {@code kallsyms_relative_base} (u64, relocated by KASLR):
 *       before num_syms in 6.1, after the token index in 6.12. With CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86-64
 *       SMP) a non-negative offset is an absolute value (per-CPU symbol) and a negative one means
 *       {@code relative_base - 1 - offset}.</li>
 * </ul>
 * Everything is bounded ({@link #MAX_SYMBOLS} symbols, {@link #MAX_NAME} bytes per name); a window that does not
 * hold consistent tables yields {@code null}, never an exception or an unbounded loop.
 */
final class Kallsyms {

    static final int MAX_SYMBOLS = 1_000_000;
    static final int MAX_NAME = 512;
    static final long KERNEL_TEXT_FLOOR = 0xffffffff80000000L;
    /** "0\0" "1\0" ... "9\0": the uncompressed digit tokens. */
    static final byte[] DIGIT_TOKENS = digitTokens();
    private static final int MAX_MARKER_CANDIDATES = 4096;

    /**
     * What was decoded, with positions relative to the window start.
     *
     * @param names          symbol names without the type letter, in kallsyms (address) order
     * @param addresses      run-time addresses (relative base as found in memory)
     * @param absolute       symbols whose address is absolute (never slid)
     * @param tokenTable     window position of kallsyms_token_table
     * @param relativeBasePos window position of kallsyms_relative_base
     * @param relativeBase   its value
     */
    record Decoded(String[] names, long[] addresses, boolean[] absolute, int tokenTable, int tokenIndex,
                   int numSymsPos, int namesPos, int markersPos, int offsetsPos, int relativeBasePos,
                   long relativeBase, boolean tablesAfterTokenIndex) {
    }

    private Kallsyms() {
    }

    private static byte[] digitTokens() {
        byte[] b = new byte[20];
        for (int i = 0; i < 10; i++) {
            b[2 * i] = (byte) ('0' + i);
        }
        return b;
    }

    /**
     * Tries the digit-token hit at {@code hit}; null when no consistent kallsyms tables surround it. The window
     * must start 8-byte aligned in guest memory (table alignment is checked relative to it).
     */
    static Decoded decode(byte[] w, int hit) {
        if (hit < 0 || hit + DIGIT_TOKENS.length > w.length) {
            return null;
        }
        // Tokens for bytes 0x3a..0xff follow the digits.
        int q = hit + DIGIT_TOKENS.length;
        for (int k = 0x3a; k <= 0xff; k++) {
            int nul = indexOfZero(w, q, Math.min(w.length, q + 256));
            if (nul < 0) {
                return null;
            }
            q = nul + 1;
        }
        int tableEnd = q;
        int indexPos = -1;
        int tableStart = -1;
        for (int candidate = tableEnd; candidate <= tableEnd + 8 && candidate + 512 <= w.length; candidate++) {
            if (u16(w, candidate) != 0) {
                continue;
            }
            int start = hit - u16(w, candidate + 2 * 0x30);
            if (start >= 0 && tokenIndexMatches(w, start, candidate, tableEnd)) {
                indexPos = candidate;
                tableStart = start;
                break;
            }
        }
        if (indexPos < 0) {
            return null;
        }
        String[] tokens = new String[256];
        for (int k = 0; k < 256; k++) {
            int a = tableStart + u16(w, indexPos + 2 * k);
            int nul = indexOfZero(w, a, w.length);
            tokens[k] = new String(w, a, nul - a, StandardCharsets.ISO_8859_1);
        }
        // Markers end before the token table, directly (6.12) or before seqs_of_names (6.1).
        int lowest = Math.max(0, tableStart - (3 * MAX_SYMBOLS + 64));
        int candidates = 0;
        for (int m = (tableStart - 4) & ~3; m >= lowest; m -= 4) {
            if (u32(w, m) != 0) {
                continue;
            }
            if (++candidates > MAX_MARKER_CANDIDATES) {
                return null;
            }
            int run = markerRun(w, m, tableStart);
            // The markers end just before the token table (6.12, within its alignment) or before seqs_of_names,
            // 3 bytes a symbol (6.1): a run that ends further from the table cannot be kallsyms_markers. This keeps
            // refuting a copied token table (a decoy) cheap.
            if (tableStart - (m + 4L * run) > 3L * 256 * run + 16) {
                continue;
            }
            for (int mc = run; mc >= 1 && mc >= run - 2; mc--) {
                Decoded d = tryMarkers(w, m, mc, tokens, tableStart, indexPos);
                if (d != null) {
                    return d;
                }
            }
        }
        return null;
    }

    private static boolean tokenIndexMatches(byte[] w, int start, int indexPos, int tableEnd) {
        int previous = -1;
        for (int k = 0; k < 256; k++) {
            int off = u16(w, indexPos + 2 * k);
            if (off <= previous && k > 0) {
                return false;
            }
            int a = start + off;
            if (a >= tableEnd) {
                return false;
            }
            int nul = indexOfZero(w, a, tableEnd);
            if (nul < 0 || nul == a) {
                return false;
            }
            int next = k == 255 ? tableEnd - start : u16(w, indexPos + 2 * (k + 1));
            if (nul + 1 != start + next) {
                return false;
            }
            previous = off;
        }
        return true;
    }

    /** Number of strictly increasing u32 values starting with the 0 at {@code m}, not crossing {@code limit}. */
    private static int markerRun(byte[] w, int m, int limit) {
        int count = 1;
        long previous = 0;
        long maxStep = 256L * (MAX_NAME + 2);
        for (int p = m + 4; p + 4 <= limit && count < (MAX_SYMBOLS + 255) / 256; p += 4) {
            long v = u32(w, p);
            if (v <= previous || v - previous > maxStep) {
                break;
            }
            previous = v;
            count++;
        }
        return count;
    }

    private static Decoded tryMarkers(byte[] w, int m, int mc, String[] tokens, int tableStart, int indexPos) {
        long lastMarker = u32(w, m + 4 * (mc - 1));
        long minSyms = 256L * (mc - 1) + 1;
        long maxSyms = 256L * mc;
        // names start at or below m - lastMarker - (bytes of the remaining <= 255 names); num_syms 8 bytes before.
        long highest = m - lastMarker - 1 - 8;
        long lowestPos = highest - 256L * (MAX_NAME + 2) - 16;
        for (long p = highest & ~7L; p >= Math.max(0, lowestPos); p -= 8) {
            long n = u32(w, (int) p);
            if (n < minSyms || n > maxSyms || n > MAX_SYMBOLS) {
                continue;
            }
            for (int gap = 8; gap >= 4; gap -= 4) {
                int names = (int) p + gap;
                int end = namesEndIfMarkersMatch(w, names, (int) n, m, mc);
                if (end >= 0) {
                    return finish(w, (int) p, names, (int) n, m, mc, tokens, tableStart, indexPos);
                }
            }
        }
        return null;
    }

    /** Walks n names from {@code names}; checks every marker and that the names end within 8 bytes of them. */
    private static int namesEndIfMarkersMatch(byte[] w, int names, int n, int m, int mc) {
        int pos = names;
        for (int i = 0; i < n; i++) {
            if ((i & 255) == 0 && u32(w, m + 4 * (i >>> 8)) != pos - names) {
                return -1;
            }
            if (pos >= m) {
                return -1;
            }
            int len = w[pos++] & 0xff;
            if ((len & 0x80) != 0) {
                if (pos >= m) {
                    return -1;
                }
                len = (len & 0x7f) | (w[pos++] & 0xff) << 7;
            }
            if (len == 0 || len > MAX_NAME) {
                return -1;
            }
            pos += len;
        }
        return pos <= m && m - pos < 8 ? pos : -1;
    }

    private static Decoded finish(byte[] w, int numPos, int namesPos, int n, int markers, int mc, String[] tokens,
                                  int tableStart, int indexPos) {
        long offsetsBytes = (4L * n + 7) & ~7L;
        // 6.1 layout: offsets, relative_base, num_syms. 6.12: token_index, offsets, relative_base.
        int relA = numPos - 8;
        long offA = relA - offsetsBytes;
        long offB = ((long) indexPos + 512 + 7) & ~7L;
        long relB = offB + offsetsBytes;
        boolean a = offA >= 0 && plausibleBase(w, relA);
        boolean b = relB + 8 <= w.length && plausibleBase(w, (int) relB);
        if (!a && !b) {
            return null;
        }
        int offsets = (int) (a ? offA : offB);
        int relPos = (int) (a ? relA : relB);
        long relativeBase = u64(w, relPos);
        int negative = 0;
        for (int i = 0; i < n; i++) {
            if ((int) u32(w, offsets + 4 * i) < 0) {
                negative++;
            }
        }
        boolean absolutePercpu = negative > n / 2;
        String[] names = new String[n];
        long[] addresses = new long[n];
        boolean[] absolute = new boolean[n];
        StringBuilder sb = new StringBuilder(64);
        int pos = namesPos;
        for (int i = 0; i < n; i++) {
            int len = w[pos++] & 0xff;
            if ((len & 0x80) != 0) {
                len = (len & 0x7f) | (w[pos++] & 0xff) << 7;
            }
            sb.setLength(0);
            for (int j = 0; j < len && sb.length() <= 2 * MAX_NAME; j++) {
                sb.append(tokens[w[pos + j] & 0xff]);
            }
            pos += len;
            // The first character is the symbol type (T, t, D, ...).
            names[i] = sb.length() > 1 ? sb.substring(1) : "";
            int off = (int) u32(w, offsets + 4 * i);
            if (absolutePercpu) {
                if (off >= 0) {
                    addresses[i] = off;
                    absolute[i] = true;
                } else {
                    addresses[i] = relativeBase - 1 - off;
                }
            } else {
                addresses[i] = relativeBase + (off & 0xffffffffL);
            }
        }
        return new Decoded(names, addresses, absolute, tableStart, indexPos, numPos, namesPos, markers, offsets,
                relPos, relativeBase, !a);
    }

    private static boolean plausibleBase(byte[] w, int pos) {
        if (pos < 0 || pos + 8 > w.length) {
            return false;
        }
        long v = u64(w, pos);
        return Long.compareUnsigned(v, KERNEL_TEXT_FLOOR) >= 0 && (v & 0xfff) == 0;
    }

    static int indexOfZero(byte[] w, int from, int to) {
        for (int i = Math.max(0, from); i < to && i < w.length; i++) {
            if (w[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Index of {@code needle} in {@code w} at or after {@code from}, or -1. */
    static int indexOf(byte[] w, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i + needle.length <= w.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (w[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static int u16(byte[] b, int p) {
        if (p < 0 || p + 2 > b.length) {
            return -1;
        }
        return (b[p] & 0xff) | (b[p + 1] & 0xff) << 8;
    }

    static long u32(byte[] b, int p) {
        if (p < 0 || p + 4 > b.length) {
            return -1;
        }
        return (b[p] & 0xff) | (b[p + 1] & 0xff) << 8 | (b[p + 2] & 0xff) << 16 | (long) (b[p + 3] & 0xff) << 24;
    }

    static long u64(byte[] b, int p) {
        return (u32(b, p) & 0xffffffffL) | u32(b, p + 4) << 32;
    }
}
