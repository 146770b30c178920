package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.memory.RamLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;

/**
 * A running QEMU's guest RAM layout, as QEMU itself reports it:
 * <ul>
 *   <li>QMP {@code query-memdev}: the memory backends, i.e. which RAM blocks are guest RAM (not ROMs, video memory
 *       or firmware) and their sizes;</li>
 *   <li>HMP {@code info ramblock}: each block's length in use and where QEMU maps it (HVA, printed by QEMU 10);</li>
 *   <li>HMP {@code info mtree -f}: the flat view of the "memory" address space, i.e. which guest physical ranges
 *       show which part of which block (q35 above 2816 MiB: 2 GiB at 0, the rest at 4 GiB).</li>
 * </ul>
 * The result is checked against the VM's memory size as its manager states it (lab metadata, libvirt), so that a
 * layout read while memory is plugged, or a block taken for the wrong one, is an error rather than wrong data.
 */
public final class QemuRamLayout {

    /** Guest RAM the guest cannot address may be at most this much (legacy VGA window, SMRAM and TSEG). */
    static final long MAX_UNMAPPED = 32L << 20;

    private static final Pattern FLAT_VIEW = Pattern.compile("^FlatView #\\d+", Pattern.MULTILINE);
    private static final Pattern SYSTEM_AS = Pattern.compile("^ AS \"memory\",", Pattern.MULTILINE);
    private static final Pattern RANGE = Pattern.compile(
            "^\\s+([0-9a-f]{16})-([0-9a-f]{16}) \\(prio -?\\d+, ([a-z/-]+)\\): (.+?)(?: @([0-9a-f]{16}))?(?: \\S+)?$",
            Pattern.MULTILINE);
    private static final Pattern RAM_BLOCK = Pattern.compile(
            "^\\s*(\\S+)\\s+\\d+ [KMGT]?i?B\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)\\s+0x([0-9a-f]+)(?:\\s+0x([0-9a-f]+))?"
                    + "(?:\\s+r[ow])?\\s*$", Pattern.MULTILINE);
    private static final Set<String> RAM_TYPES = Set.of("ram", "rom", "nv-ram", "nv-rom");

    private QemuRamLayout() {
    }

    /**
     * Reads the layout from a running QEMU.
     *
     * @param expectedRamBytes the VM's memory size as its manager states it
     * @param vm               the VM's name, for errors
     * @throws PlatformUnavailableException the layout cannot be read, or does not account for the VM's memory
     */
    public static RamLayout read(QemuMonitor monitor, long expectedRamBytes, String vm) {
        JsonNode memdevs = monitor.execute("query-memdev");
        Map<String, Long> backends = new LinkedHashMap<>();
        for (JsonNode m : memdevs) {
            String id = m.path("id").asString("");
            if (!id.isEmpty()) {
                backends.put(id, m.path("size").asLong(0));
            }
        }
        return parse(monitor.humanMonitor("info mtree -f"), monitor.humanMonitor("info ramblock"), backends,
                expectedRamBytes, vm);
    }

    /** {@link #read} on texts already fetched; {@code backends} maps memory backend ids to their sizes. */
    static RamLayout parse(String flatViews, String ramBlocks, Map<String, Long> backends, long expectedRamBytes,
                           String vm) {
        Map<String, RamLayout.Block> blocks = new LinkedHashMap<>();
        Matcher b = RAM_BLOCK.matcher(ramBlocks);
        while (b.find()) {
            String name = b.group(1);
            String backend = backendOf(name, backends);
            if (backend == null) {
                continue; // a ROM, video memory or firmware: not guest RAM
            }
            long used = Long.parseUnsignedLong(b.group(3), 16);
            long hva = b.group(5) == null ? -1 : Long.parseUnsignedLong(b.group(5), 16);
            if (used != backends.get(backend)) {
                throw unusable(vm, "RAM block " + name + " holds 0x" + Long.toHexString(used) + " bytes, its backend "
                        + backend + " 0x" + Long.toHexString(backends.get(backend)));
            }
            blocks.put(name, block(name, used, hva, vm));
        }
        if (blocks.isEmpty()) {
            throw unusable(vm, "QEMU lists no RAM block of its memory backends " + backends.keySet());
        }
        List<RamLayout.Range> ranges = new ArrayList<>();
        Matcher r = RANGE.matcher(systemFlatView(flatViews, vm));
        while (r.find()) {
            String name = r.group(4);
            if (!RAM_TYPES.contains(r.group(3)) || !blocks.containsKey(name)) {
                continue;
            }
            long start = Long.parseUnsignedLong(r.group(1), 16);
            long end = Long.parseUnsignedLong(r.group(2), 16) + 1;
            long offset = r.group(5) == null ? 0 : Long.parseUnsignedLong(r.group(5), 16);
            ranges.add(range(start, end - start, name, offset, vm));
        }
        RamLayout layout;
        try {
            layout = RamLayout.of(List.copyOf(blocks.values()), ranges);
        } catch (IllegalArgumentException e) {
            throw unusable(vm, e.getMessage());
        }
        if (layout.ramBytes() != expectedRamBytes) {
            throw unusable(vm, "QEMU's RAM blocks hold " + mib(layout.ramBytes()) + " but the VM has "
                    + mib(expectedRamBytes) + " (memory being plugged or unplugged?): " + layout.blocks());
        }
        if (layout.ramBytes() - layout.mappedBytes() > MAX_UNMAPPED) {
            throw unusable(vm, "QEMU shows the guest only " + mib(layout.mappedBytes()) + " of its "
                    + mib(layout.ramBytes()) + " of RAM: " + layout);
        }
        return layout;
    }

    /** The backend a RAM block belongs to: its id, or its QOM path (machine types that name blocks by path). */
    private static String backendOf(String blockName, Map<String, Long> backends) {
        if (backends.containsKey(blockName)) {
            return blockName;
        }
        String id = blockName.startsWith("/objects/") ? blockName.substring("/objects/".length()) : null;
        return id != null && backends.containsKey(id) ? id : null;
    }

    /** The flat view that the "memory" address space (what the CPUs see) renders. */
    private static String systemFlatView(String text, String vm) {
        Matcher views = FLAT_VIEW.matcher(text);
        List<Integer> starts = new ArrayList<>();
        while (views.find()) {
            starts.add(views.start());
        }
        for (int i = 0; i < starts.size(); i++) {
            String view = text.substring(starts.get(i), i + 1 < starts.size() ? starts.get(i + 1) : text.length());
            if (SYSTEM_AS.matcher(view).find()) {
                return view;
            }
        }
        throw unusable(vm, "QEMU's \"info mtree -f\" has no flat view of the \"memory\" address space");
    }

    private static RamLayout.Block block(String name, long used, long hva, String vm) {
        try {
            return new RamLayout.Block(name, used, hva);
        } catch (IllegalArgumentException e) {
            throw unusable(vm, e.getMessage());
        }
    }

    private static RamLayout.Range range(long start, long length, String block, long offset, String vm) {
        try {
            return new RamLayout.Range(start, length, block, offset);
        } catch (IllegalArgumentException e) {
            throw unusable(vm, e.getMessage());
        }
    }

    private static String mib(long bytes) {
        return bytes % (1 << 20) == 0 ? (bytes >> 20) + " MiB" : bytes + " bytes";
    }

    private static PlatformUnavailableException unusable(String vm, String why) {
        return new PlatformUnavailableException("cannot lay out the guest RAM of " + vm + ": " + why);
    }
}
