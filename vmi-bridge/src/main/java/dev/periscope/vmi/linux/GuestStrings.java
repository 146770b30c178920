package dev.periscope.vmi.linux;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Turns untrusted guest bytes into bounded, printable strings. */
final class GuestStrings {

    static final int MAX_ARGS = 256;
    /** TASK_COMM_LEN: comm is 16 bytes with its NUL. */
    static final int COMM_LEN = 16;

    private GuestStrings() {
    }

    /** A task comm: up to the first NUL (max 16 bytes), non-printables replaced by '?'. */
    static String comm(byte[] bytes) {
        int end = 0;
        while (end < bytes.length && end < COMM_LEN && bytes[end] != 0) {
            end++;
        }
        return sanitize(bytes, 0, end);
    }

    static String sanitize(byte[] bytes, int from, int to) {
        // Decode as UTF-8 (names are usually ASCII), then replace control and replacement characters.
        String s = new String(bytes, from, to - from, StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> sb.appendCodePoint(c < 0x20 || c == 0x7f || c == 0xfffd
                || (c >= 0x80 && c < 0xa0) ? '?' : c));
        return sb.toString();
    }

    /** argv from the bytes of arg_start..arg_end: split on NUL, trailing empties dropped, capped. */
    static List<String> argv(byte[] bytes, int length) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= length && out.size() < MAX_ARGS; i++) {
            if (i == length || bytes[i] == 0) {
                if (i > start || i < length) {
                    out.add(sanitize(bytes, start, i));
                }
                start = i + 1;
            }
        }
        while (!out.isEmpty() && out.getLast().isEmpty()) {
            out.removeLast();
        }
        return List.copyOf(out);
    }
}
