package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.driver.qemu.MappedRamFile;
import dev.periscope.vmi.driver.qemu.QemuRamLayout;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.memory.RamLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory image file opened for reading: its format found from its first bytes, its guest RAM mapped read-only and
 * laid out at the guest physical addresses it had (q35's split around the hole below 4 GiB for a raw RAM file or a
 * snapshot of more than 2816 MiB, an ELF core's own PT_LOAD addresses), and the vCPU registers the file carries
 * (an ELF core from QEMU). The library's entry point for offline analysis:
 * <pre>{@code
 * try (MemoryImage image = MemoryImage.open(Path.of("guest.elf"))) {
 *     ProcessList list = image.processes(new KernelProfileCache(ProfileStore.in(ProfileStore.defaultDirectory())));
 * }
 * }</pre>
 * Owns its mappings ({@link #close()} unmaps; reads after that fail with {@link VmGoneException}). Thread-safe for
 * reads.
 */
public final class MemoryImage implements AutoCloseable {

    private final Path file;
    private final ImageFormat format;
    private final RamLayout layout;
    private final List<MappedPhysicalMemory> mappings;
    private final PhysicalMemory memory;
    private final List<VcpuRegisters> registers;
    private final String machine;
    private final Instant modified;

    private MemoryImage(Path file, ImageFormat format, RamLayout layout, List<MappedPhysicalMemory> mappings,
                        PhysicalMemory memory, List<VcpuRegisters> registers, String machine, Instant modified) {
        this.file = file;
        this.format = format;
        this.layout = layout;
        this.mappings = mappings;
        this.memory = memory;
        this.registers = registers;
        this.machine = machine;
        this.modified = modified;
    }

    /** Opens an image, a raw one laid out as a q35 guest's RAM file (see {@link RawLayout}). */
    public static MemoryImage open(Path file) {
        return open(file, RawLayout.Q35);
    }

    /**
     * Opens an image; {@code rawLayout} applies to raw files only (ELF cores and snapshots carry their layout).
     *
     * @throws VmGoneException              the file does not exist
     * @throws PlatformUnavailableException it cannot be read, or is not a memory image Periscope reads (the message
     *                                      says why)
     */
    public static MemoryImage open(Path file, RawLayout rawLayout) {
        Instant modified;
        long size;
        try {
            modified = Files.getLastModifiedTime(file).toInstant();
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new VmGoneException("memory image " + file + " does not exist", e);
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot read memory image " + file + ": " + e.getMessage(), e);
        }
        if (!Files.isRegularFile(file)) {
            throw new PlatformUnavailableException("memory image " + file + " is not a regular file");
        }
        ImageFormat format = ImageFormat.of(file);
        List<MappedPhysicalMemory> mappings = new ArrayList<>();
        try {
            return switch (format) {
                case RAW -> raw(file, size, rawLayout, modified, mappings);
                case ELF_CORE -> elf(file, modified, mappings);
                case QEMU_MAPPED_RAM -> mappedRam(file, modified, mappings);
            };
        } catch (RuntimeException e) {
            mappings.forEach(MappedPhysicalMemory::close);
            throw e;
        }
    }

    private static MemoryImage raw(Path file, long size, RawLayout rawLayout, Instant modified,
                                   List<MappedPhysicalMemory> mappings) {
        if (size == 0 || size % RamLayout.PAGE != 0) {
            throw new PlatformUnavailableException("memory image " + file + " holds " + size + " bytes, not a whole"
                    + " number of 4 KiB pages: not guest RAM (nor an ELF core or a QEMU snapshot)");
        }
        RamLayout layout = rawLayout.layout("ram", size);
        MappedPhysicalMemory ram = MappedPhysicalMemory.map(file, 0, size, null, RamLayout.PAGE).readAtRandom();
        mappings.add(ram);
        return new MemoryImage(file, ImageFormat.RAW, layout, List.copyOf(mappings),
                layout.assemble(Map.of("ram", ram)), List.of(), rawLayout.name().toLowerCase(), modified);
    }

    private static MemoryImage elf(Path file, Instant modified, List<MappedPhysicalMemory> mappings) {
        ElfCore core = ElfCore.read(file);
        List<RamLayout.Block> blocks = new ArrayList<>();
        List<RamLayout.Range> ranges = new ArrayList<>();
        Map<String, PhysicalMemory> memories = new LinkedHashMap<>();
        List<ElfCore.Segment> segments = new ArrayList<>(core.segments());
        segments.sort(Comparator.comparingLong(ElfCore.Segment::physical));
        RamLayout layout;
        try {
            for (ElfCore.Segment s : segments) {
                String name = "load@" + Long.toHexString(s.physical());
                blocks.add(new RamLayout.Block(name, s.length(), -1));
                ranges.add(new RamLayout.Range(s.physical(), s.length(), name, 0));
            }
            layout = RamLayout.of(blocks, ranges);
        } catch (IllegalArgumentException e) {
            throw new PlatformUnavailableException("ELF core " + file + ": its segments are no guest RAM layout: "
                    + e.getMessage(), e);
        }
        for (ElfCore.Segment s : segments) {
            MappedPhysicalMemory m = MappedPhysicalMemory.map(file, s.offset(), s.length(), null, RamLayout.PAGE)
                    .readAtRandom();
            mappings.add(m);
            memories.put("load@" + Long.toHexString(s.physical()), m);
        }
        return new MemoryImage(file, ImageFormat.ELF_CORE, layout, List.copyOf(mappings), layout.assemble(memories),
                core.registers(), "", modified);
    }

    private static MemoryImage mappedRam(Path file, Instant modified, List<MappedPhysicalMemory> mappings) {
        MappedRamFile.Listing listing = MappedRamFile.list(file);
        // Guest RAM is the largest block; the others are firmware, option ROMs and video memory.
        MappedRamFile ram = listing.blocks().stream().max(Comparator.comparingLong(MappedRamFile::length))
                .orElseThrow(() -> new PlatformUnavailableException("snapshot file " + file + " has no RAM block"));
        QemuRamLayout.Machine machine = QemuRamLayout.Machine.ofType(listing.machineType())
                .orElseThrow(() -> new PlatformUnavailableException("snapshot file " + file + " is of machine type '"
                        + listing.machineType() + "', whose RAM layout Periscope does not know (q35 and i440fx only)"));
        RamLayout layout = machine.layout(ram.blockId(), ram.length());
        MappedPhysicalMemory m = MappedPhysicalMemory.map(file, ram.pagesOffset(), ram.length(), ram.present(),
                ram.pageSize()).readAtRandom();
        mappings.add(m);
        return new MemoryImage(file, ImageFormat.QEMU_MAPPED_RAM, layout, List.copyOf(mappings),
                layout.assemble(Map.of(ram.blockId(), m)), List.of(), listing.machineType(), modified);
    }

    public Path file() {
        return file;
    }

    public ImageFormat format() {
        return format;
    }

    /** Where the image's RAM sits in guest physical address space. */
    public RamLayout layout() {
        return layout;
    }

    /** Guest physical memory as the image holds it (read-only, frozen). */
    public PhysicalMemory memory() {
        return memory;
    }

    /** vCPU registers the file carries (an ELF core from QEMU: one per vCPU), else empty. */
    public List<VcpuRegisters> registers() {
        return registers;
    }

    /** When the file was last written: the instant its memory describes, as near as the file tells. */
    public Instant modified() {
        return modified;
    }

    /** One line for people: format, layout, machine, registers. */
    public String describe() {
        return format.description() + ", " + (layout.mappedBytes() >> 20) + " MiB of RAM in " + layout.ranges().size()
                + " range(s)" + (machine.isEmpty() ? "" : ", " + machine)
                + (registers.isEmpty() ? "" : ", registers of " + registers.size() + " vCPU(s)");
    }

    /**
     * Lists the image's processes with the same metadata as a live VM's list (read in mode SNAPSHOT: the image is
     * one), the kernel profile taken from {@code profiles} when it knows the build.
     */
    public ProcessList processes(KernelProfileCache profiles) {
        String name = ImageDirectory.nameOf(file);
        try (MemoryImageDriver driver = MemoryImageDriver.of(name, this);
             VmiEngine engine = new VmiEngine(driver, profiles)) {
            return engine.processes(name, AcquisitionMode.SNAPSHOT);
        }
    }

    /** Unmaps the image. Idempotent. */
    @Override
    public void close() {
        mappings.forEach(MappedPhysicalMemory::close);
    }

    @Override
    public String toString() {
        return "MemoryImage[" + file + ": " + describe() + "]";
    }
}
