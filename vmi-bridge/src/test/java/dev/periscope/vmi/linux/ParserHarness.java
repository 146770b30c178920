package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.util.Arrays;

/**
 * The guest-data parsers driven by arbitrary input, for the fuzzers ({@link ParserFuzzTest}, coverage-guided by
 * Jazzer) and the property tests ({@link ParserPropertyTest}, jqwik): BTF, kallsyms, the task walk with the PID
 * table and names, and the page walk. Each input is a valid structure with patches applied (a fuzzer reaches deep
 * code from there) or raw bytes. Every harness fails with an {@link AssertionError} when a parser breaks its
 * contract: anything but its typed exception escapes, or a result exceeds the engine's bounds.
 */
final class ParserHarness {

    /** A minimal but complete kernel BTF: every struct member the engine resolves. */
    static final byte[] KERNEL_BTF = kernelBtf();
    private static final KallsymsTest.Tables TABLES = new KallsymsTest.Tables(600);
    static final byte[] KALLSYMS_61 = TABLES.build(false);
    static final int KALLSYMS_61_HIT = TABLES.hit;
    static final byte[] KALLSYMS_612 = new KallsymsTest.Tables(600).build(true);
    static final int KALLSYMS_612_HIT = hit612();
    private static final SyntheticGuest GUEST = standardGuest();

    private ParserHarness() {
    }

    private static int hit612() {
        KallsymsTest.Tables t = new KallsymsTest.Tables(600);
        t.build(true);
        return t.hit;
    }

    private static SyntheticGuest standardGuest() {
        SyntheticGuest g = SyntheticGuest.standard();
        g.publishPidTable();
        return g;
    }

    private static byte[] kernelBtf() {
        BtfTest.Builder b = new BtfTest.Builder();
        b.type("int", Btf.KIND_INT, 0, false, 4, 32);                                   // 1
        b.type("long", Btf.KIND_INT, 0, false, 8, 64);                                  // 2
        b.type(null, Btf.KIND_PTR, 0, false, 0);                                        // 3 void *
        b.type("char", Btf.KIND_INT, 0, false, 1, 8);                                   // 4
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 4, 1, 16);                            // 5 char[16]
        b.struct("list_head", Btf.KIND_STRUCT, false, 16, "next", 3, 0, "prev", 3, 64); // 6
        b.struct("kuid_t", Btf.KIND_STRUCT, false, 4, "val", 1, 0);                     // 7
        b.struct("hlist_node", Btf.KIND_STRUCT, false, 16, "next", 3, 0, "pprev", 3, 64); // 8
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 8, 1, 4);                             // 9 hlist_node[4]
        b.struct("task_struct", Btf.KIND_STRUCT, false, 1024, "__state", 1, 0, "flags", 1, 32, "stack", 3, 64,
                "tasks", 6, 128, "pid", 1, 256, "tgid", 1, 288, "real_parent", 3, 320, "group_leader", 3, 384,
                "comm", 5, 448, "cred", 3, 576, "real_cred", 3, 640, "mm", 3, 704, "active_mm", 3, 768,
                "exit_state", 1, 832, "start_time", 2, 896, "signal", 3, 960, "thread_node", 6, 1024,
                "worker_private", 3, 1152, "set_child_tid", 3, 1216, "pid_links", 9, 1280);   // 10
        b.struct("cred", Btf.KIND_STRUCT, false, 16, "uid", 7, 32, "gid", 7, 64);         // 11
        b.struct("mm_struct", Btf.KIND_STRUCT, false, 64, "pgd", 3, 0, "arg_start", 2, 64, "arg_end", 2, 128,
                "env_start", 2, 192, "env_end", 2, 256);                                   // 12
        b.struct("signal_struct", Btf.KIND_STRUCT, false, 64, "thread_head", 6, 128);     // 13
        b.struct("kthread", Btf.KIND_STRUCT, false, 128, "data", 3, 192, "full_name", 3, 832); // 14
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 4, 1, 24);                            // 15 char[24]
        b.struct("worker", Btf.KIND_STRUCT, false, 192, "current_work", 3, 128, "pool", 3, 576, "id", 1, 864,
                "desc", 15, 928, "rescue_wq", 3, 1152);                                    // 16
        b.struct("worker_pool", Btf.KIND_STRUCT, false, 768, "cpu", 1, 32, "id", 1, 96, "attrs", 3, 5760); // 17
        b.struct("workqueue_attrs", Btf.KIND_STRUCT, false, 16, "nice", 1, 0);            // 18
        b.struct("workqueue_struct", Btf.KIND_STRUCT, false, 256, "name", 15, 1408);      // 19
        b.struct("xarray", Btf.KIND_STRUCT, false, 16, "xa_flags", 1, 32, "xa_head", 3, 64); // 20
        b.struct("idr", Btf.KIND_STRUCT, false, 24, "idr_rt", 20, 0, "idr_base", 1, 128);  // 21
        b.struct("pid_namespace", Btf.KIND_STRUCT, false, 64, "idr", 21, 0);               // 22
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 3, 1, 64);                            // 23 void *[64]
        b.struct("xa_node", Btf.KIND_STRUCT, false, 576, "shift", 4, 0, "count", 4, 16, "slots", 23, 320); // 24
        b.struct("hlist_head", Btf.KIND_STRUCT, false, 8, "first", 3, 0);                // 25
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 25, 1, 4);                            // 26 hlist_head[4]
        b.struct("upid", Btf.KIND_STRUCT, false, 16, "nr", 1, 0);                         // 27
        b.type(null, Btf.KIND_ARRAY, 0, false, 0, 27, 1, 1);                            // 28 upid[1]
        b.struct("pid", Btf.KIND_STRUCT, false, 112, "level", 1, 32, "tasks", 26, 128, "numbers", 28, 768); // 29
        return b.build();
    }

    /** Applies patches, each {@code position << 8 | value}, to a copy of {@code base}. */
    static byte[] patched(byte[] base, long[] patches) {
        byte[] out = base.clone();
        for (long p : patches) {
            out[(int) Math.floorMod(p >>> 8, (long) out.length)] = (byte) p;
        }
        return out;
    }

    /** Parses a BTF blob and resolves every offset the engine needs; only GuestDataException may escape parse. */
    static void btf(byte[] blob) {
        Btf btf;
        try {
            btf = Btf.parse(blob);
        } catch (GuestDataException expected) {
            return;
        }
        try {
            KernelOffsets.from(btf);
        } catch (GuestDataException expected) {
            // a member the engine cannot do without is missing: a typed error
        }
        int types = btf.typeCount();
        for (int id = 0; id <= Math.min(types, 4096); id++) {
            btf.sizeOf(id);
            btf.resolve(id);
        }
        for (String path : new String[] {"comm", "tasks.next", "pid_links", "worker_private"}) {
            btf.offsetOf("task_struct", path);
            btf.memberSize("task_struct", path);
        }
        btf.memberSize("xa_node", "slots");
        btf.offsetOf("pid_namespace", "idr.idr_rt.xa_head");
    }

    /** Decodes kallsyms from a window; never throws, and a result is self-consistent. */
    static void kallsyms(byte[] window, int hit) {
        Kallsyms.Decoded d = Kallsyms.decode(window, hit);
        if (d != null) {
            check(d.names().length == d.addresses().length && d.names().length == d.absolute().length,
                    "decoded arrays of different lengths");
            check(d.names().length <= Kallsyms.MAX_SYMBOLS, "more symbols than the bound");
            check(d.tokenTable() >= 0 && d.tokenIndex() < window.length && d.namesPos() >= 0
                    && d.relativeBasePos() + 8 <= window.length, "a table position outside the window");
            for (String name : d.names()) {
                check(name.length() <= 2 * Kallsyms.MAX_NAME, "a name longer than the bound");
            }
        }
    }

    /**
     * Walks the synthetic guest with 8-byte values written at physical addresses ({@code address, value} pairs,
     * addresses reduced into its RAM): the walk never throws and stays within its bounds.
     */
    static void taskWalk(long[] writes, boolean fullThreads) {
        OverlayMemory memory = new OverlayMemory(GUEST.memory);
        for (int i = 0; i + 1 < writes.length; i += 2) {
            long at = Math.floorMod(writes[i], GUEST.memory.size() - 8) & ~7L;
            memory.writeLong(at, writes[i + 1]);
        }
        TaskWalker walker = new TaskWalker(memory, new X86AddressSpace(memory, GUEST.kernelDtb, false),
                GUEST.profile(), fullThreads ? ThreadDetail.FULL : ThreadDetail.IDS);
        TaskWalker.Result r = walker.walk();
        check(r.processes().size() <= TaskWalker.MAX_TASKS, "more processes than the bound");
        check(r.warnings().size() <= 2 * TaskWalker.MAX_WARNINGS + 1, "more warnings than the bound");
        for (GuestProcess p : r.processes()) {
            check(p.name().length() <= TaskNames.MAX_NAME && p.comm().length() <= GuestStrings.COMM_LEN,
                    "a name longer than /proc's");
            check(p.argv().size() <= GuestStrings.MAX_ARGS
                    && p.argv().stream().mapToInt(String::length).sum() <= TaskWalker.MAX_ARGV, "argv beyond bound");
            check(p.threads().size() <= TaskWalker.MAX_THREADS_PER_GROUP + 1, "more threads than the bound");
            check(p.name().chars().noneMatch(c -> c < 0x20 || c == 0x7f), "a control character in a name");
        }
    }

    /** Translates addresses through page tables made of arbitrary bytes: only PageNotPresentException escapes. */
    static void pageWalk(byte[] ram, long dtb, long[] addresses, boolean fiveLevel) {
        ByteArrayPhysicalMemory memory = new ByteArrayPhysicalMemory(ram.length >= 4096 ? ram
                : Arrays.copyOf(ram, 4096));
        X86AddressSpace space = new X86AddressSpace(memory, dtb, fiveLevel);
        for (long va : addresses) {
            try {
                long pa = space.translate(va);
                check(pa >= 0 && pa < memory.size(), "a translation outside RAM");
                space.readLong(va);
            } catch (PageNotPresentException expected) {
                // unmapped, or mapped outside RAM
            }
        }
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }
}
