package dev.periscope.vmi.driver.image;

import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Memory image files as a platform ({@value #PLATFORM}): each image is a VM that is always "running" (there is
 * always something to read) and never changes. Its process list is consistent by construction: the engine reads it
 * in mode SNAPSHOT, the image being its own snapshot (no copy, no downtime, its age the file's). It cannot be
 * paused, and has no events.
 *
 * <p>Serves either the images of an {@link ImageDirectory} (read on every listing, so adding or removing an image
 * needs no restart; each open maps the file anew and the domain unmaps it) or one image opened by the caller
 * ({@link #of}). Thread-safe.
 */
public final class MemoryImageDriver implements HypervisorDriver {

    public static final String PLATFORM = "image";
    private static final Set<Capability> CAPABILITIES = Set.of(Capability.READ_MEMORY, Capability.COW_SNAPSHOT);

    private final ImageDirectory directory;
    private final String singleName;
    private final MemoryImage single;

    private MemoryImageDriver(ImageDirectory directory, String singleName, MemoryImage single) {
        this.directory = directory;
        this.singleName = singleName;
        this.single = single;
    }

    /** The images of {@code directory}. */
    public static MemoryImageDriver over(ImageDirectory directory) {
        return new MemoryImageDriver(directory, null, null);
    }

    /** One image the caller opened (and closes): the VM {@code name}. */
    public static MemoryImageDriver of(String name, MemoryImage image) {
        return new MemoryImageDriver(null, name, image);
    }

    @Override
    public String platform() {
        return PLATFORM;
    }

    @Override
    public List<DomainInfo> domains() {
        if (single != null) {
            return List.of(singleInfo());
        }
        return directory.list().stream().map(MemoryImageDriver::info).flatMap(Optional::stream).toList();
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        if (single != null) {
            return singleName.equals(name) ? Optional.of(singleInfo()) : Optional.empty();
        }
        return directory.find(name).flatMap(MemoryImageDriver::info);
    }

    private DomainInfo singleInfo() {
        return new DomainInfo(singleName, "", PLATFORM, true, single.layout().ramBytes(), "", "", single.modified());
    }

    /** Listed without opening the file: its size stands for the RAM it holds, its time for when it was taken. */
    private static Optional<DomainInfo> info(ImageDirectory.Image image) {
        try {
            return Optional.of(new DomainInfo(image.name(), "", PLATFORM, true, Files.size(image.file()), "", "",
                    Files.getLastModifiedTime(image.file()).toInstant()));
        } catch (IOException e) {
            return Optional.empty(); // removed since the listing
        }
    }

    @Override
    public Set<Capability> capabilities(String name) {
        return domain(name).map(d -> CAPABILITIES).orElse(Set.of());
    }

    @Override
    public Domain open(String name) {
        if (single != null) {
            if (!singleName.equals(name)) {
                throw new VmGoneException("no image named " + name);
            }
            return new ImageDomain(singleInfo(), single, false, capabilities(single));
        }
        ImageDirectory.Image entry = directory.find(name)
                .orElseThrow(() -> new VmGoneException("no image named " + name));
        MemoryImage image = MemoryImage.open(entry.file(), directory.rawLayout());
        DomainInfo info = new DomainInfo(name, "", PLATFORM, true, image.layout().ramBytes(), "", "",
                image.modified());
        return new ImageDomain(info, image, true, capabilities(image));
    }

    private static Set<Capability> capabilities(MemoryImage image) {
        Set<Capability> c = EnumSet.copyOf(CAPABILITIES);
        if (!image.registers().isEmpty()) {
            c.add(Capability.VCPU_REGISTERS);
        }
        return Set.copyOf(c);
    }

    @Override
    public void close() {
        // each domain owns the image it opened; a single image is its caller's
    }

    @Override
    public String toString() {
        return "MemoryImageDriver[" + (single != null ? single.file() : directory.directory()) + "]";
    }
}
