package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

/**
 * Kernel builds already decoded, keyed by the banner's release and a slide-independent identity (symbol count, BTF size and
 * the kallsyms token table bytes). A second VM running the same build, or the same VM after a reboot, reuses
 * the symbols and struct offsets and only re-derives the per-boot values (KASLR slide, phys_base,
 * page_offset_base, paging mode). Thread-safe; bounded to {@link #MAX_BUILDS} builds.
 *
 * <p>With a {@link ProfileStore} the builds outlive the process: each decoded build is written there, and a build not
 * in memory is looked for there before a kernel is decoded (stored builds are validated on load and, like any
 * cached build, used only for a guest whose memory confirms them).
 */
public final class KernelProfileCache {

    static final int MAX_BUILDS = 64;

    /**
     * One decoded kernel build. Deltas are physical distances from {@code linux_banner}, constant for a build
     * because the image is contiguous.
     */
    record Build(String banner, SymbolTable linkSymbols, KernelOffsets offsets, int btfTypes,
                 long relativeBaseLink, long relativeBaseDelta, long tokenTableDelta, byte[] tokenTable,
                 int symbolCount, long btfSize) {

        /** The same build as far as a cache can tell (what {@link ProfileStore#identity} hashes). */
        boolean sameBuildAs(Build other) {
            return symbolCount == other.symbolCount && btfSize == other.btfSize && banner.equals(other.banner)
                    && Arrays.equals(tokenTable, other.tokenTable);
        }
    }

    private final Map<String, List<Build>> byBanner = new ConcurrentHashMap<>();
    private final ProfileStore store;

    /** A cache held in memory only. */
    public KernelProfileCache() {
        this(null);
    }

    /** A cache backed by {@code store} (null: memory only). */
    public KernelProfileCache(ProfileStore store) {
        this.store = store;
    }

    /** The store behind this cache, if any. */
    public Optional<ProfileStore> store() {
        return Optional.ofNullable(store);
    }

    /**
     * Builds of the release a banner names (a kernel holds banner variants, e.g. linux_banner and a copy); with a
     * store and none in memory, the stored builds of exactly this banner.
     */
    List<Build> builds(String banner) {
        List<Build> known = byBanner.getOrDefault(KernelDiscovery.release(banner), List.of());
        if (known.isEmpty() && store != null) {
            store.load(banner).forEach(this::remember);
            known = byBanner.getOrDefault(KernelDiscovery.release(banner), List.of());
        }
        return known;
    }

    /** Every cached build, for probing a guest before any banner is known. */
    List<Build> all() {
        return byBanner.values().stream().flatMap(List::stream).toList();
    }

    /**
     * Brings the stored builds this guest's memory holds the banner of into memory, so that discovery's first
     * (cheap) step finds them; files of builds already in memory are not read again.
     */
    void preload(PhysicalMemory memory) {
        if (store != null) {
            Set<String> known = all().stream().map(ProfileStore::fileName).collect(Collectors.toSet());
            store.matching(memory, known).forEach(this::remember);
        }
    }

    /** Adds a build decoded from a guest, and stores it when there is a store. */
    void put(Build build) {
        if (remember(build) && store != null) {
            store.save(build);
        }
    }

    /** Adds a build to memory; false when it was known. */
    private boolean remember(Build build) {
        if (size() >= MAX_BUILDS) {
            byBanner.clear();
        }
        List<Build> list = byBanner.computeIfAbsent(KernelDiscovery.release(build.banner()), b -> new CopyOnWriteArrayList<>());
        if (list.stream().anyMatch(b -> b.sameBuildAs(build))) {
            return false;
        }
        list.add(build);
        return true;
    }

    public int size() {
        return byBanner.values().stream().mapToInt(List::size).sum();
    }

    /** Forgets the builds held in memory (a store keeps its files). */
    public void clear() {
        byBanner.clear();
    }
}
