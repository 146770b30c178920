package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.memory.ProcessMemory;
import dev.periscope.vmi.memory.RamLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live guest RAM of a running QEMU process, laid out by its {@link RamLayout}, with no change to the VM: each
 * guest RAM block is read straight from its file when QEMU maps it shared from one (a memory-backend-file with
 * share=on: the page cache holds the guest's pages, mapped here read-only), and otherwise through the process's
 * memory at the block's host address ({@code /proc/PID/mem}, which needs root or CAP_SYS_PTRACE).
 * Owns what it opens; {@link #close()} releases it.
 */
public final class QemuRam implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(QemuRam.class);

    private final RamLayout layout;
    private final PhysicalMemory memory;
    private final Map<String, Path> directBlocks;
    private final List<AutoCloseable> owned;

    private QemuRam(RamLayout layout, PhysicalMemory memory, Map<String, Path> directBlocks,
                    List<AutoCloseable> owned) {
        this.layout = layout;
        this.memory = memory;
        this.directBlocks = directBlocks;
        this.owned = owned;
    }

    /**
     * Opens the guest RAM of QEMU process {@code pid} (started at {@code startTicks}, see
     * {@link ProcessMemory#startTicks}) as {@code layout} describes it.
     *
     * @throws PlatformUnavailableException a block's host address is unknown, or the process cannot be read
     * @throws dev.periscope.vmi.VmGoneException the process is gone
     */
    public static QemuRam open(RamLayout layout, long pid, long startTicks) {
        List<AutoCloseable> owned = new CopyOnWriteArrayList<>();
        Map<String, PhysicalMemory> blocks = new LinkedHashMap<>();
        Map<String, Path> direct = new LinkedHashMap<>();
        ProcessMemory process = null;
        try {
            for (RamLayout.Block block : layout.blocks()) {
                if (block.hostAddress() <= 0) {
                    throw new PlatformUnavailableException("QEMU (pid " + pid + ") does not say where it maps RAM "
                            + "block " + block.name() + " (\"info ramblock\" without HVA: QEMU older than 10?)");
                }
                Optional<MappedPhysicalMemory> mapped = mapShared(pid, block);
                if (mapped.isPresent()) {
                    owned.add(mapped.get());
                    blocks.put(block.name(), mapped.get());
                    direct.put(block.name(), mapped.get().file());
                    continue;
                }
                if (process == null) {
                    process = ProcessMemory.open(pid, startTicks);
                    owned.add(process);
                }
                blocks.put(block.name(), process.region(block.hostAddress(), block.length(), block.name()));
            }
            return new QemuRam(layout, layout.assemble(blocks), Map.copyOf(direct), owned);
        } catch (RuntimeException e) {
            closeAll(owned);
            throw e;
        }
    }

    /** The block's shared backing file, mapped, if it has one that maps cleanly here. */
    private static Optional<MappedPhysicalMemory> mapShared(long pid, RamLayout.Block block) {
        Optional<ProcessMemory.SharedFile> shared = ProcessMemory.sharedFileAt(pid, block.hostAddress(),
                block.length());
        if (shared.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(MappedPhysicalMemory.map(shared.get().file(), shared.get().offset(), block.length(),
                    null, RamLayout.PAGE));
        } catch (RuntimeException e) {
            // e.g. hugetlbfs, whose files map only at huge-page offsets: the process path reads the same bytes
            log.info("RAM block {} of QEMU pid {} is shared from {} but cannot be mapped here ({}): reading it "
                    + "through the process", block.name(), pid, shared.get().file(), e.getMessage());
            return Optional.empty();
        }
    }

    public RamLayout layout() {
        return layout;
    }

    /** Guest physical memory, live. */
    public PhysicalMemory memory() {
        return memory;
    }

    /** The blocks read straight from their shared file (by block name), the rest go through the process. */
    public Map<String, Path> directBlocks() {
        return directBlocks;
    }

    @Override
    public void close() {
        closeAll(owned);
    }

    private static void closeAll(List<AutoCloseable> owned) {
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                log.debug("closing {}", c, e);
            }
        }
        owned.clear();
    }

    @Override
    public String toString() {
        return "QemuRam[" + layout + ", direct " + directBlocks.keySet() + "]";
    }
}
