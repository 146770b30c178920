package dev.periscope.vmi.trace;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Linux error numbers by name and text (resource errno-x86_64.txt), and a failed syscall's result as strace writes
 * it: {@code -1 ENOENT (No such file or directory)}, or {@code ? ERESTARTSYS (To be restarted if SA_RESTART is
 * set)} for the restart codes a process never sees.
 */
final class Errno {

    /** The largest error number: a return value in -MAX_ERRNO..-1 is a failure. */
    static final int MAX_ERRNO = 4095;
    private static final String[] NAMES = new String[600];
    private static final String[] TEXTS = new String[600];

    static {
        try (InputStream in = Errno.class.getResourceAsStream("errno-x86_64.txt");
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split(" ", 3);
                int e = Integer.parseInt(f[0]);
                NAMES[e] = f[1];
                TEXTS[e] = f[2];
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether {@code ret} is a failure (-4095..-1). */
    static boolean failed(long ret) {
        return ret < 0 && ret >= -MAX_ERRNO;
    }

    /** The name of error {@code e} (positive), or null when unknown. */
    static String name(long e) {
        return e > 0 && e < NAMES.length ? NAMES[(int) e] : null;
    }

    /** The right-hand side of a failed call returning {@code ret} (-4095..-1). */
    static String result(long ret) {
        int e = (int) -ret;
        String name = name(e);
        if (name == null) {
            return "-1 (errno " + e + ")";
        }
        String prefix = e >= 512 && e <= 516 ? "? " : "-1 ";
        return prefix + name + " (" + TEXTS[e] + ")";
    }

    private Errno() {
    }
}
