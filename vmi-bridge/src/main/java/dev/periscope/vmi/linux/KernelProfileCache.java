package dev.periscope.vmi.linux;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Kernel builds already decoded, keyed by the banner's release and a slide-independent identity (symbol count, BTF size and
 * the kallsyms token table bytes). A second VM running the same build, or the same VM after a reboot, reuses
 * the symbols and struct offsets and only re-derives the per-boot values (KASLR slide, phys_base,
 * page_offset_base, paging mode). Thread-safe; bounded to {@link #MAX_BUILDS} builds.
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
    }

    private final Map<String, List<Build>> byBanner = new ConcurrentHashMap<>();

    /** Builds of the release a banner names (a kernel holds banner variants, e.g. linux_banner and a copy). */
    List<Build> builds(String banner) {
        return byBanner.getOrDefault(KernelDiscovery.release(banner), List.of());
    }

    /** Every cached build, for probing a guest before any banner is known. */
    List<Build> all() {
        return byBanner.values().stream().flatMap(List::stream).toList();
    }

    void put(Build build) {
        if (size() >= MAX_BUILDS) {
            byBanner.clear();
        }
        List<Build> list = byBanner.computeIfAbsent(KernelDiscovery.release(build.banner()), b -> new CopyOnWriteArrayList<>());
        boolean known = list.stream().anyMatch(b -> b.symbolCount() == build.symbolCount()
                && b.btfSize() == build.btfSize() && java.util.Arrays.equals(b.tokenTable(), build.tokenTable()));
        if (!known) {
            list.add(build);
        }
    }

    public int size() {
        return byBanner.values().stream().mapToInt(List::size).sum();
    }

    public void clear() {
        byBanner.clear();
    }
}
