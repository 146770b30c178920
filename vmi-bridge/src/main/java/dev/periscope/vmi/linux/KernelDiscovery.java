package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.Dtb;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Derives a {@link KernelProfile} from guest physical memory alone:
 * <ol>
 *   <li>find {@code "Linux version "} banners (PhysicalMemory.indexOf), in address order;</li>
 *   <li>warm: a cached build with that banner whose token table sits at the same distance from it: read the
 *       relocated {@code kallsyms_relative_base} there, the difference to its link value is the KASLR slide;</li>
 *   <li>cold: search the kallsyms digit tokens near the banner, decode kallsyms ({@link Kallsyms}), parse BTF
 *       between {@code __start_BTF} and {@code __stop_BTF} ({@link Btf}), resolve offsets;</li>
 *   <li>either way accept the image only when {@code phys_base} as stored in the image equals the one derived
 *       from the banner's position and {@code init_task.comm} reads "swapper/0" ("swapper" in an image that
 *       never booted).</li>
 * </ol>
 */
final class KernelDiscovery {

    static final byte[] BANNER = "Linux version ".getBytes(StandardCharsets.US_ASCII);
    /** Banner positions examined: a guest (even an unprivileged process in it) can write banner copies anywhere. */
    private static final int MAX_BANNERS = 4096;
    /** Banner copies tried as linux_banner inside one decoded kallsyms window. */
    private static final int MAX_WINDOW_BANNERS = 64;
    private static final long NEAR = 96L << 20;
    private static final long WINDOW_BEFORE = 40L << 20;
    private static final long WINDOW_AFTER = 8L << 20;
    private static final long MAX_BTF = 64L << 20;
    private static final long DEFAULT_PAGE_OFFSET = 0xffff888000000000L;
    /** Positions of the kallsyms digit tokens examined in all (each costs a 16 KiB read). */
    private static final int MAX_DIGIT_HITS = 4096;
    /** kallsyms decodes tried in all, in an 18 MiB window (a decoy table costs milliseconds to refute). */
    private static final int MAX_DECODES = 64;
    /** Decodes retried in the 48 MiB window a kernel of more than about 500,000 symbols needs. */
    private static final int MAX_WIDE_DECODES = 2;
    /** x86-64 CONFIG_PHYSICAL_ALIGN lower bound: physical kernel placement (and the KASLR slide) is 2 MiB aligned. */
    static final long PHYSICAL_ALIGN = 2L << 20;

    private static final Logger LOG = LoggerFactory.getLogger(KernelDiscovery.class);
    /** Rejection reasons kept for the error message. */
    private static final int MAX_REJECTIONS = 32;
    private final PhysicalMemory memory;
    private final KernelProfileCache cache;
    /**
     * A CR3 a vCPU runs with, when the caller has one: only the kernel those page tables map is accepted. If no
     * image passes that check (a platform whose registers do not describe its page tables as expected), the first
     * image that passed every other check is returned, and the log says so: the check picks among kernels, it
     * never loses the only one.
     */
    private final OptionalLong runningCr3;
    /** The first image that passed every check but the running vCPU's. */
    private KernelProfile unconfirmed;
    private final List<String> rejected = new ArrayList<>();
    /** Ranges of guest memory already searched for the digit tokens, merged, so no byte is searched twice. */
    private final TreeMap<Long, Long> scanned = new TreeMap<>();
    /** Token tables that passed the cheap check and wait for a full decode. */
    private final TreeSet<Long> tokenTables = new TreeSet<>();
    private int digitHits;
    private int decodes;
    private int wideDecodes;
    /** Window buffers reused from decode to decode (by length), so refuting decoys allocates nothing more. */
    private final Map<Integer, byte[]> buffers = new HashMap<>();

    KernelDiscovery(PhysicalMemory memory, KernelProfileCache cache, OptionalLong runningCr3) {
        this.memory = memory;
        this.cache = cache;
        this.runningCr3 = runningCr3;
    }

    static KernelProfile discover(PhysicalMemory memory, KernelProfileCache cache, OptionalLong runningCr3) {
        return new KernelDiscovery(memory, cache, runningCr3).run();
    }

    private KernelProfile run() {
        long started = System.nanoTime();
        KernelProfile known = tryCachedBuildsAtAlignedOffsets(started);
        if (known != null) {
            return known;
        }
        List<long[]> banners = new ArrayList<>();
        List<Long> deferred = new ArrayList<>();
        long from = 0;
        // Warm pass over banners found so far; banners are searched lazily, the kernel's is usually among the first.
        for (int n = 0; n < MAX_BANNERS; n++) {
            long at = memory.indexOf(BANNER, from, memory.size());
            if (at < 0) {
                break;
            }
            from = at + 1;
            String banner = readBanner(at);
            trace("banner at 0x" + Long.toHexString(at), started);
            if (banner == null) {
                continue;
            }
            banners.add(new long[] {at});
            List<KernelProfileCache.Build> builds = cache.builds(banner);
            for (KernelProfileCache.Build build : builds) {
                KernelProfile p = tryWarm(build, at, started);
                if (p != null) {
                    return p;
                }
            }
            if (builds.isEmpty()) {
                KernelProfile p = tryCold(at, banner, started);
                if (p != null) {
                    return p;
                }
            } else {
                deferred.add(at); // a known banner that is not where the build has it: probably a copy
            }
        }
        for (long at : deferred) {
            KernelProfile p = tryCold(at, readBanner(at), started);
            if (p != null) {
                return p;
            }
        }
        if (unconfirmed != null) {
            LOG.warn("no kernel image matches the running vCPU's page tables ({}); using {} found from memory alone",
                    rejected, unconfirmed.summary());
            return unconfirmed;
        }
        throw new GuestDataException(banners.isEmpty()
                ? "no 'Linux version' banner in guest memory (not Linux, or memory not readable)"
                : "no Linux kernel image found near " + banners.size() + " banner(s): " + rejected);
    }

    /**
     * Warm fast path: the kernel is loaded at a {@link #PHYSICAL_ALIGN}-aligned physical address wherever KASLR
     * puts it, so a cached build's {@code linux_banner} can only sit at one offset within each aligned block.
     * Probing those few places replaces a scan of all guest RAM (hundreds of milliseconds for 512 MiB).
     */
    private KernelProfile tryCachedBuildsAtAlignedOffsets(long started) {
        for (KernelProfileCache.Build build : cache.all()) {
            long bannerLink = build.linkSymbols().require("linux_banner");
            long offset = (bannerLink - KernelProfile.START_KERNEL_MAP) & (PHYSICAL_ALIGN - 1);
            for (long at = offset; at + BANNER.length <= memory.size(); at += PHYSICAL_ALIGN) {
                if (hasBannerPrefix(at) && build.banner().equals(readBanner(at))) {
                    KernelProfile p = tryWarm(build, at, started);
                    if (p != null) {
                        return p;
                    }
                }
            }
        }
        return null;
    }

    private boolean hasBannerPrefix(long at) {
        byte[] head = readTolerant(at, BANNER.length);
        return Arrays.equals(head, BANNER);
    }

    /** The banner text at {@code at}, up to the newline or NUL (max 512 bytes); null when it is not a banner. */
    String readBanner(long at) {
        byte[] b = readTolerant(at, 512);
        int end = 0;
        while (end < b.length && b[end] != 0 && b[end] != '\n') {
            end++;
        }
        String s = new String(b, 0, end, StandardCharsets.ISO_8859_1);
        if (s.length() <= BANNER.length || !Character.isDigit(s.charAt(BANNER.length))) {
            return null;
        }
        return s;
    }

    static String release(String banner) {
        String rest = banner.substring(BANNER.length);
        int space = rest.indexOf(' ');
        return space < 0 ? rest : rest.substring(0, space);
    }

    private KernelProfile tryWarm(KernelProfileCache.Build build, long bannerPa, long started) {
        try {
            byte[] tokens = readTolerant(bannerPa + build.tokenTableDelta(), build.tokenTable().length);
            if (!Arrays.equals(tokens, build.tokenTable())) {
                return null;
            }
            long relativeBase = memory.readLong(bannerPa + build.relativeBaseDelta());
            long slide = relativeBase - build.relativeBaseLink();
            SymbolTable symbols = build.linkSymbols().rebased(slide);
            return perBoot(build.banner(), bannerPa, symbols, build.offsets(), build.btfTypes(), started, true);
        } catch (PageNotPresentException | GuestDataException e) {
            reject("cached build at 0x" + Long.toHexString(bannerPa) + ": " + e.getMessage());
            return null;
        }
    }

    /**
     * Cold path for one banner: the token tables within {@link #NEAR} of it (memory not searched for an earlier
     * banner is searched now), nearest first, each decoded once ({@link #MAX_DECODES} in all); for a decoded table
     * the banner and every banner copy in its window are tried as linux_banner.
     */
    private KernelProfile tryCold(long bannerPa, String banner, long started) {
        long lo = Math.max(0, bannerPa - NEAR);
        long hi = Math.min(memory.size(), bannerPa + NEAR);
        scanForTokenTables(lo, hi);
        List<Long> near = new ArrayList<>(tokenTables.subSet(lo, hi));
        near.sort(Comparator.comparingLong(hit -> Math.abs(hit - bannerPa)));
        for (long hit : near) {
            if (decodes >= MAX_DECODES) {
                reject("kallsyms decode budget (" + MAX_DECODES + " tables) spent");
                return null;
            }
            tokenTables.remove(hit);
            decodes++;
            long base = 0;
            long length = 0;
            Kallsyms.Decoded d = null;
            for (long before : new long[] {WINDOW_BEFORE / 4, WINDOW_BEFORE}) {
                if (before == WINDOW_BEFORE && (hit < WINDOW_BEFORE / 4 || wideDecodes++ >= MAX_WIDE_DECODES)) {
                    break; // the small window held all memory below the table, or the wide retries are spent
                }
                base = Math.max(0, hit - before) & ~0xfffL; // tables are aligned relative to the window
                length = Math.min(memory.size() - base, before + WINDOW_AFTER);
                d = Kallsyms.decode(readTolerant(base, (int) length, true), (int) (hit - base));
                trace("kallsyms decoded", started);
                if (d != null) {
                    break;
                }
            }
            if (d == null) {
                reject("token table at 0x" + Long.toHexString(hit) + " without consistent kallsyms");
                continue;
            }
            // linux_banner is in .rodata with kallsyms: try the banner given, then every copy inside the window.
            List<Long> candidates = new ArrayList<>();
            candidates.add(bannerPa);
            for (long i = memory.indexOf(BANNER, base, base + length); i >= 0 && candidates.size() < MAX_WINDOW_BANNERS;
                 i = memory.indexOf(BANNER, i + 1, base + length)) {
                if (i != bannerPa) {
                    candidates.add(i);
                }
            }
            Prepared prepared;
            long bannerOffset;
            try {
                prepared = prepare(d);
                bannerOffset = prepared.linkSymbols.require("linux_banner") - KernelProfile.START_KERNEL_MAP;
            } catch (GuestDataException e) {
                reject("kallsyms at 0x" + Long.toHexString(base + d.tokenTable()) + ": " + e.getMessage());
                continue;
            }
            for (long candidate : candidates) {
                if (((candidate - bannerOffset) & (PHYSICAL_ALIGN - 1)) != 0) {
                    continue; // the kernel would not start on a 2 MiB boundary: not this build's linux_banner
                }
                try {
                    String text = candidate == bannerPa ? banner : readBanner(candidate);
                    if (text == null) {
                        continue;
                    }
                    return fromPrepared(prepared, d, base, candidate, text, started);
                } catch (PageNotPresentException | GuestDataException e) {
                    reject("kallsyms at 0x" + Long.toHexString(base + d.tokenTable()) + " with banner at 0x"
                            + Long.toHexString(candidate) + ": " + e.getMessage());
                }
            }
        }
        return null;
    }

    /** Searches the parts of {@code [lo, hi)} not searched before for token tables (bounded in all). */
    private void scanForTokenTables(long lo, long hi) {
        long from = lo;
        while (from < hi) {
            Map.Entry<Long, Long> covering = scanned.floorEntry(from);
            if (covering != null && covering.getValue() > from) {
                from = covering.getValue();
                continue;
            }
            Long nextStart = scanned.ceilingKey(from);
            long to = nextStart == null ? hi : Math.min(hi, nextStart);
            // hits may straddle range ends: search a little into the next range, the set deduplicates
            long searchTo = Math.min(memory.size(), to + Kallsyms.DIGIT_TOKENS.length - 1);
            for (long at = from; digitHits < MAX_DIGIT_HITS; ) {
                long hit = memory.indexOf(Kallsyms.DIGIT_TOKENS, at, searchTo);
                if (hit < 0) {
                    break;
                }
                at = hit + 1;
                digitHits++;
                // Cheap check on a small window first: the token table and index must be consistent.
                long smallBase = Math.max(0, hit - 4096) & ~0xfffL;
                byte[] small = readTolerant(smallBase, (int) Math.min(16384, memory.size() - smallBase), true);
                if (tokenTableAt(small, (int) (hit - smallBase))) {
                    tokenTables.add(hit);
                }
            }
            markScanned(from, to);
            from = to;
        }
    }

    private void markScanned(long from, long to) {
        long start = from, end = to;
        Map.Entry<Long, Long> before = scanned.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
        }
        for (Map.Entry<Long, Long> e = scanned.ceilingEntry(start); e != null && e.getKey() <= end;
             e = scanned.ceilingEntry(start)) {
            end = Math.max(end, e.getValue());
            scanned.remove(e.getKey());
        }
        scanned.put(start, end);
    }

    private static boolean tokenTableAt(byte[] small, int hit) {
        // Reuse the full decoder's token checks by trying only the token part: decode needs markers too, so here
        // just check that the 198 following tokens are short NUL-terminated strings followed by a u16 zero.
        int q = hit + Kallsyms.DIGIT_TOKENS.length;
        for (int k = 0x3a; k <= 0xff; k++) {
            int nul = Kallsyms.indexOfZero(small, q, Math.min(small.length, q + 256));
            if (nul < 0 || nul == q) {
                return false;
            }
            q = nul + 1;
        }
        for (int c = q; c <= q + 8 && c + 2 <= small.length; c++) {
            if (Kallsyms.u16(small, c) == 0 && Kallsyms.u16(small, c + 2) > 0) {
                return true;
            }
        }
        return false;
    }

    /** Slide-independent symbols from decoded kallsyms; types are parsed once a banner position is confirmed. */
    private static final class Prepared {
        final SymbolTable linkSymbols;
        final long slide;
        KernelOffsets offsets;
        int types;
        long btfSize;

        Prepared(SymbolTable linkSymbols, long slide) {
            this.linkSymbols = linkSymbols;
            this.slide = slide;
        }
    }

    private static Prepared prepare(Kallsyms.Decoded d) {
        long textRuntime = -1;
        for (int i = 0; i < d.names().length; i++) {
            if (d.names()[i].equals("_text") && !d.absolute()[i]) {
                textRuntime = d.addresses()[i];
                break;
            }
        }
        if (textRuntime == -1) {
            throw new GuestDataException("kallsyms has no _text");
        }
        long slide = textRuntime - KernelProfile.DEFAULT_TEXT;
        long[] link = new long[d.addresses().length];
        for (int i = 0; i < link.length; i++) {
            link[i] = d.absolute()[i] ? d.addresses()[i] : d.addresses()[i] - slide;
        }
        return new Prepared(new SymbolTable(d.names(), link, d.absolute(), 0), slide);
    }

    private KernelProfile fromPrepared(Prepared prepared, Kallsyms.Decoded d, long windowBase, long bannerPa,
                                       String banner, long started) {
        SymbolTable symbols = prepared.linkSymbols.rebased(prepared.slide);
        long physBase = bannerPa - (symbols.require("linux_banner") - KernelProfile.START_KERNEL_MAP);
        checkPhysBase(symbols, physBase);
        if (prepared.offsets == null) {
            long btfStart = symbols.require("__start_BTF");
            long btfSize = symbols.require("__stop_BTF") - btfStart;
            if (btfSize <= 24 || btfSize > MAX_BTF) {
                throw new GuestDataException("BTF size " + btfSize + " implausible (CONFIG_DEBUG_INFO_BTF off?)");
            }
            byte[] blob = new byte[(int) btfSize];
            memory.read(pa(btfStart, physBase), blob, 0, blob.length);
            trace("btf read", started);
            Btf btf = Btf.parse(blob);
            prepared.offsets = KernelOffsets.from(btf);
            prepared.types = btf.typeCount();
            prepared.btfSize = btfSize;
            trace("btf parsed", started);
        }
        KernelProfile profile = perBoot(banner, bannerPa, symbols, prepared.offsets, prepared.types, started,
                false);
        long tokenTablePa = windowBase + d.tokenTable();
        byte[] tokens = readTolerant(tokenTablePa, d.tokenIndex() - d.tokenTable());
        cache.put(new KernelProfileCache.Build(banner, prepared.linkSymbols, prepared.offsets, prepared.types,
                d.relativeBase() - prepared.slide, windowBase + d.relativeBasePos() - bannerPa,
                tokenTablePa - bannerPa, tokens, d.names().length, prepared.btfSize));
        return profile;
    }

    private void checkPhysBase(SymbolTable symbols, long physBase) {
        long stored = memory.readLong(pa(symbols.require("phys_base"), physBase));
        if (stored != physBase) {
            throw new GuestDataException("phys_base in memory 0x" + Long.toHexString(stored)
                    + " differs from the banner's position 0x" + Long.toHexString(physBase));
        }
    }

    /** The per-boot part: phys_base, page_offset_base, page tables, validated against init_task. */
    private KernelProfile perBoot(String banner, long bannerPa, SymbolTable symbols, KernelOffsets offsets,
                                  int btfTypes, long started, boolean fromCache) {
        long slide = symbols.slide();
        if ((slide & 0x1fffff) != 0 || slide < 0 || slide > (1L << 31)) {
            throw new GuestDataException("implausible KASLR slide 0x" + Long.toHexString(slide));
        }
        long linuxBanner = symbols.require("linux_banner");
        long physBase = bannerPa - (linuxBanner - KernelProfile.START_KERNEL_MAP);
        checkPhysBase(symbols, physBase);
        long initTask = symbols.require("init_task");
        checkInitTask(symbols, offsets, initTask, physBase);
        long pageOffsetBase = symbols.address("page_offset_base").isPresent()
                ? memory.readLong(pa(symbols.require("page_offset_base"), physBase)) : DEFAULT_PAGE_OFFSET;
        if (pageOffsetBase == 0) {
            pageOffsetBase = DEFAULT_PAGE_OFFSET; // image that never booted
        }
        boolean fiveLevel = symbols.address("__pgtable_l5_enabled").isPresent()
                && memory.readInt(pa(symbols.require("__pgtable_l5_enabled"), physBase)) != 0;
        long dtb = pa(symbols.require("init_top_pgt"), physBase);
        fiveLevel = pagingMode(dtb, fiveLevel, initTask, pa(initTask, physBase));
        KernelProfile profile = new KernelProfile(banner, release(banner), slide, physBase, pageOffsetBase, dtb,
                fiveLevel, initTask, symbols, offsets, btfTypes, Duration.ofNanos(System.nanoTime() - started),
                fromCache);
        if (runningCr3.isPresent()) {
            try {
                checkRunning(runningCr3.getAsLong(), fiveLevel, initTask, pa(initTask, physBase));
            } catch (GuestDataException e) {
                if (unconfirmed == null) {
                    unconfirmed = profile;
                }
                throw e;
            }
        }
        return profile;
    }

    /**
     * init_task must look like init_task through these symbols and offsets, or they are not this kernel's: its comm
     * is swapper/0 ("swapper" in an image that never booted), its pid and tgid 0, it is its own parent and group
     * leader, it has no mm and its stack is init_stack. A BTF that moves a member (or a wrong kallsyms) fails here
     * instead of yielding processes read at wrong offsets.
     */
    private void checkInitTask(SymbolTable symbols, KernelOffsets o, long initTask, long physBase) {
        long at = pa(initTask, physBase);
        byte[] comm = new byte[16];
        memory.read(at + o.taskComm(), comm, 0, 16);
        String name = GuestStrings.comm(comm);
        if (!name.equals("swapper/0") && !name.equals("swapper")) {
            throw new GuestDataException("init_task.comm is '" + name + "', not swapper/0");
        }
        int pid = memory.readInt(at + o.taskPid());
        int tgid = memory.readInt(at + o.taskTgid());
        long parent = memory.readLong(at + o.taskRealParent());
        long leader = memory.readLong(at + o.taskGroupLeader());
        long mm = memory.readLong(at + o.taskMm());
        long stack = memory.readLong(at + o.taskStack());
        long initStack = symbols.address("init_stack").orElse(stack);
        if (pid != 0 || tgid != 0 || parent != initTask || leader != initTask || mm != 0 || stack != initStack) {
            throw new GuestDataException("init_task fails its self-check (pid " + pid + ", tgid " + tgid
                    + ", real_parent 0x" + Long.toHexString(parent) + ", group_leader 0x" + Long.toHexString(leader)
                    + ", mm 0x" + Long.toHexString(mm) + ", stack 0x" + Long.toHexString(stack)
                    + "): symbols or BTF offsets are not this kernel's");
        }
    }

    /**
     * The paging mode the kernel's page tables really have: the one {@code __pgtable_l5_enabled} says when it maps
     * init_task where the image has it, else the other one when that does (the variable is guest data too). When
     * neither maps it (an image whose page tables were never set up for where it lies), the variable stands.
     */
    private boolean pagingMode(long dtb, boolean claimed, long initTask, long initTaskPa) {
        for (boolean mode : new boolean[] {claimed, !claimed}) {
            try {
                if (new X86AddressSpace(memory, dtb, mode).translate(initTask) == initTaskPa) {
                    return mode;
                }
            } catch (PageNotPresentException e) {
                // not this mode
            }
        }
        return claimed;
    }

    /**
     * The running vCPU's page tables must map init_task to this image's init_task: a copy of a kernel image
     * elsewhere in memory is consistent in itself but is not what the vCPU runs. With page-table isolation a vCPU
     * in user mode runs the user half of a pair, whose kernel half is the page below it.
     */
    private void checkRunning(long cr3, boolean fiveLevel, long initTask, long initTaskPa) {
        long mapped = -1;
        for (long root : new long[] {Dtb.of(cr3), Dtb.kernelPgd(cr3)}) {
            try {
                // a Xen PV guest's CR3 names a machine frame, like its page-table entries
                long table = memory.pageTablesHoldMachineFrames() ? memory.pageTableFrame(root) : root;
                mapped = new X86AddressSpace(memory, table, fiveLevel).translate(initTask);
                if (mapped == initTaskPa) {
                    return;
                }
            } catch (PageNotPresentException e) {
                // the user half of a PTI pair, or not this kernel
            }
        }
        throw new GuestDataException("the running vCPU's page tables (CR3 0x" + Long.toHexString(cr3) + ") map init_task"
                + (mapped < 0 ? " nowhere" : " to 0x" + Long.toHexString(mapped)) + ", not to this image's 0x"
                + Long.toHexString(initTaskPa) + ": a copy of a kernel, not the running one");
    }

    /** Keeps a rejection reason for the error message (the first {@link #MAX_REJECTIONS}, each once). */
    private void reject(String reason) {
        if (rejected.size() < MAX_REJECTIONS && !rejected.contains(reason)) {
            rejected.add(reason);
        }
    }

    private static void trace(String what, long started) {
        if (LOG.isDebugEnabled()) {
            LOG.debug("discovery: {} at {} ms", what, (System.nanoTime() - started) / 1_000_000);
        }
    }

    private static long pa(long imageVa, long physBase) {
        return imageVa - KernelProfile.START_KERNEL_MAP + physBase;
    }

    /** Reads {@code length} bytes, leaving zeros where pages are absent; clipped to guest RAM. */
    byte[] readTolerant(long at, int length) {
        return readTolerant(at, length, false);
    }

    /**
     * As {@link #readTolerant(long, int)}; with {@code reuse} into a buffer of this length kept from an earlier
     * read (valid until the next reused read of the same length).
     */
    private byte[] readTolerant(long at, int length, boolean reuse) {
        if (at < 0 || at >= memory.size()) {
            return new byte[0];
        }
        int n = (int) Math.min(length, memory.size() - at);
        byte[] out = reuse ? buffers.computeIfAbsent(n, byte[]::new) : new byte[n];
        try {
            memory.read(at, out, 0, n);
            return out;
        } catch (PageNotPresentException e) {
            // fall back to page by page
        }
        int done = 0;
        while (done < n) {
            long address = at + done;
            int chunk = (int) Math.min(n - done, 4096 - (address & 4095));
            try {
                memory.read(address, out, done, chunk);
            } catch (PageNotPresentException e) {
                Arrays.fill(out, done, done + chunk, (byte) 0);
            }
            done += chunk;
        }
        return out;
    }
}
