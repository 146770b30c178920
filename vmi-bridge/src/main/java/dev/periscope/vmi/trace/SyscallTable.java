package dev.periscope.vmi.trace;

import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.SymbolTable;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * x86-64 syscall numbers to names, taken from the guest kernel itself: {@code sys_call_table} is read from guest
 * memory and every entry resolved through the kernel's own kallsyms to its {@code __x64_sys_NAME} symbol; the few
 * calls the kernel names differently from user space ({@code newstat}, {@code sendfile64}, ...) get the name strace
 * shows. {@link #disagreements} compares two tables (the guest's with the built-in one: Debian's 6.1 and 6.12 agree
 * with it on every number both define).
 * Kernels whose table cannot be read or resolved (a kernel built without {@code sys_call_table}: from 6.9 on,
 * dispatch goes through the {@code x64_sys_call} switch, but Debian's 6.12 still keeps the table for tracing)
 * get the built-in table generated from the UAPI header, and {@link #source()} says so. Immutable.
 */
public final class SyscallTable {

    /** Where the names came from. */
    public enum Source {
        /** The guest's {@code sys_call_table}, each entry resolved through its kallsyms. */
        GUEST_SYS_CALL_TABLE,
        /** The built-in table (asm/unistd_64.h): a labelled fallback, the guest's own table was not usable. */
        BUILTIN_FALLBACK
    }

    static final int MAX_SYSCALLS = 1024;
    private static final String PREFIX = "__x64_sys_";
    /** The kernel's function names that differ from the names user space knows the calls by. */
    private static final Map<String, String> USER_NAMES = Map.of("newstat", "stat", "newfstat", "fstat",
            "newlstat", "lstat", "newuname", "uname", "sendfile64", "sendfile", "umount", "umount2");
    private static volatile SyscallTable builtin;

    private final String[] names;
    private final Source source;
    private final String detail;

    private SyscallTable(String[] names, Source source, String detail) {
        this.names = names;
        this.source = source;
        this.detail = detail;
    }

    /** From the guest's own {@code sys_call_table}, else the built-in fallback (see {@link #source()}). */
    public static SyscallTable of(PhysicalMemory memory, KernelProfile profile) {
        try {
            return fromGuest(memory, profile);
        } catch (VmiException | IllegalStateException | IndexOutOfBoundsException e) {
            SyscallTable b = builtin();
            return new SyscallTable(b.names, Source.BUILTIN_FALLBACK, "guest sys_call_table unusable: " + e.getMessage());
        }
    }

    static SyscallTable fromGuest(PhysicalMemory memory, KernelProfile profile) {
        SymbolTable symbols = profile.symbols();
        OptionalLong table = symbols.address("sys_call_table");
        if (table.isEmpty()) {
            throw new IllegalStateException("no sys_call_table symbol (x64_sys_call switch only)");
        }
        long pa = profile.imagePhysical(table.getAsLong());
        String[] result = new String[MAX_SYSCALLS];
        int n = 0;
        for (; n < MAX_SYSCALLS; n++) {
            long entry = memory.readLong(pa + 8L * n);
            Optional<String> sym = symbols.symbolAt(entry);
            if (sym.isEmpty() || !sym.get().startsWith(PREFIX) || sym.get().contains("+0x")) {
                break; // past the end of the table
            }
            String name = sym.get().substring(PREFIX.length());
            result[n] = name.equals("ni_syscall") ? null : USER_NAMES.getOrDefault(name, name);
        }
        if (n < 300) {
            throw new IllegalStateException("sys_call_table resolved only " + n + " entries");
        }
        return new SyscallTable(Arrays.copyOf(result, n), Source.GUEST_SYS_CALL_TABLE,
                n + " entries from sys_call_table");
    }

    /** The built-in x86-64 table (resource syscalls-x86_64.txt, from asm/unistd_64.h). */
    public static SyscallTable builtin() {
        SyscallTable b = builtin;
        if (b == null) {
            String[] names = new String[MAX_SYSCALLS];
            int max = 0;
            try (InputStream in = SyscallTable.class.getResourceAsStream("syscalls-x86_64.txt");
                 BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.isBlank() || line.startsWith("#")) {
                        continue;
                    }
                    String[] kv = line.trim().split("\\s+");
                    int nr = Integer.parseInt(kv[0]);
                    names[nr] = kv[1];
                    max = Math.max(max, nr + 1);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            b = new SyscallTable(Arrays.copyOf(names, max), Source.BUILTIN_FALLBACK, "built-in asm/unistd_64.h table");
            builtin = b;
        }
        return b;
    }

    /** The name of syscall {@code nr}, or {@code "syscall_NR"} for numbers the table does not know. */
    public String name(long nr) {
        if (nr >= 0 && nr < names.length && names[(int) nr] != null) {
            return names[(int) nr];
        }
        return "syscall_" + nr;
    }

    /** The number of a syscall name, or -1. */
    public int number(String name) {
        for (int i = 0; i < names.length; i++) {
            if (name.equals(names[i])) {
                return i;
            }
        }
        return -1;
    }

    public int size() {
        return names.length;
    }

    /**
     * The numbers both tables name, with different names ("NR: this / other"): empty when they agree. A number only
     * one of them names (a call the kernel left out, one newer than the other table) is no disagreement.
     */
    public List<String> disagreements(SyscallTable other) {
        List<String> out = new ArrayList<>();
        for (int nr = 0; nr < Math.min(names.length, other.names.length); nr++) {
            if (names[nr] != null && other.names[nr] != null && !names[nr].equals(other.names[nr])) {
                out.add(nr + ": " + names[nr] + " / " + other.names[nr]);
            }
        }
        return out;
    }

    public Source source() {
        return source;
    }

    /** A line for logs and the UI: where the names came from and how many. */
    public String detail() {
        return detail;
    }

    @Override
    public String toString() {
        return "SyscallTable[" + source + ", " + detail + "]";
    }
}
