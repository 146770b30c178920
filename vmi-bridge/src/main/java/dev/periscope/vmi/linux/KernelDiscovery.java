package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
    private static final int MAX_BANNERS = 64;
    private static final long NEAR = 96L << 20;
    private static final long WINDOW_BEFORE = 40L << 20;
    private static final long WINDOW_AFTER = 8L << 20;
    private static final long MAX_BTF = 64L << 20;
    private static final long DEFAULT_PAGE_OFFSET = 0xffff888000000000L;
    private static final int MAX_DIGIT_HITS = 64;
    /** x86-64 CONFIG_PHYSICAL_ALIGN lower bound: physical kernel placement (and the KASLR slide) is 2 MiB aligned. */
    static final long PHYSICAL_ALIGN = 2L << 20;

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(KernelDiscovery.class);
    private final PhysicalMemory memory;
    private final KernelProfileCache cache;
    private final List<String> rejected = new ArrayList<>();
    private final java.util.Set<Long> decodedTables = new java.util.HashSet<>();

    KernelDiscovery(PhysicalMemory memory, KernelProfileCache cache) {
        this.memory = memory;
        this.cache = cache;
    }

    static KernelProfile discover(PhysicalMemory memory, KernelProfileCache cache) {
        return new KernelDiscovery(memory, cache).run();
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
            rejected.add("cached build at 0x" + Long.toHexString(bannerPa) + ": " + e.getMessage());
            return null;
        }
    }

    private KernelProfile tryCold(long bannerPa, String banner, long started) {
        long lo = Math.max(0, bannerPa - NEAR);
        long hi = Math.min(memory.size(), bannerPa + NEAR);
        long from = lo;
        for (int hits = 0; hits < MAX_DIGIT_HITS; hits++) {
            long hit = memory.indexOf(Kallsyms.DIGIT_TOKENS, from, hi);
            if (hit < 0) {
                break;
            }
            from = hit + 1;
            // Cheap check on a small window first: the token table and index must be consistent.
            long smallBase = Math.max(0, hit - 4096) & ~0xfffL;
            byte[] small = readTolerant(smallBase, (int) Math.min(16384, memory.size() - smallBase));
            if (!tokenTableAt(small, (int) (hit - smallBase))) {
                continue;
            }
            if (!decodedTables.add(hit)) {
                continue; // decoded for an earlier banner and rejected there with every banner in its window
            }
            long base = 0;
            byte[] window = null;
            Kallsyms.Decoded d = null;
            for (long before : new long[] {WINDOW_BEFORE / 4, WINDOW_BEFORE}) {
                base = Math.max(0, hit - before) & ~0xfffL; // tables are aligned relative to the window
                int length = (int) Math.min(memory.size() - base, before + WINDOW_AFTER);
                window = readTolerant(base, length);
                trace("window read", started);
                d = Kallsyms.decode(window, (int) (hit - base));
                trace("kallsyms decoded", started);
                if (d != null) {
                    break;
                }
            }
            if (d == null) {
                rejected.add("token table at 0x" + Long.toHexString(hit) + " without consistent kallsyms");
                continue;
            }
            // linux_banner is in .rodata with kallsyms: try the banner given, then every copy inside the window.
            List<Long> candidates = new ArrayList<>();
            candidates.add(bannerPa);
            for (int i = Kallsyms.indexOf(window, BANNER, 0); i >= 0 && candidates.size() < MAX_BANNERS;
                 i = Kallsyms.indexOf(window, BANNER, i + 1)) {
                if (base + i != bannerPa) {
                    candidates.add(base + i);
                }
            }
            Prepared prepared = prepare(d);
            for (long candidate : candidates) {
                try {
                    String text = candidate == bannerPa ? banner : readBanner(candidate);
                    if (text == null) {
                        continue;
                    }
                    return fromPrepared(prepared, d, base, candidate, text, started);
                } catch (PageNotPresentException | GuestDataException e) {
                    rejected.add("kallsyms at 0x" + Long.toHexString(base + d.tokenTable()) + " with banner at 0x"
                            + Long.toHexString(candidate) + ": " + e.getMessage());
                }
            }
        }
        return null;
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
        byte[] comm = new byte[16];
        memory.read(pa(initTask, physBase) + offsets.taskComm(), comm, 0, 16);
        String name = GuestStrings.comm(comm);
        if (!name.equals("swapper/0") && !name.equals("swapper")) {
            throw new GuestDataException("init_task.comm is '" + name + "', not swapper/0");
        }
        long pageOffsetBase = symbols.address("page_offset_base").isPresent()
                ? memory.readLong(pa(symbols.require("page_offset_base"), physBase)) : DEFAULT_PAGE_OFFSET;
        if (pageOffsetBase == 0) {
            pageOffsetBase = DEFAULT_PAGE_OFFSET; // image that never booted
        }
        boolean fiveLevel = symbols.address("__pgtable_l5_enabled").isPresent()
                && memory.readInt(pa(symbols.require("__pgtable_l5_enabled"), physBase)) != 0;
        long dtb = pa(symbols.require("init_top_pgt"), physBase);
        return new KernelProfile(banner, release(banner), slide, physBase, pageOffsetBase, dtb, fiveLevel, initTask,
                symbols, offsets, btfTypes, Duration.ofNanos(System.nanoTime() - started), fromCache);
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
        if (at < 0 || at >= memory.size()) {
            return new byte[0];
        }
        int n = (int) Math.min(length, memory.size() - at);
        byte[] out = new byte[n];
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
                // leave zeros
            }
            done += chunk;
        }
        return out;
    }
}
