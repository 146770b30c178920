package dev.periscope.vmi.driver.lab;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lab platform ("qemu-lab"): Debian guests under QEMU/TCG started by lab/lab.sh, each described by
 * {@code <var>/lab/NAME/meta.json}. Stateless apart from the directory it reads, so thread-safe.
 */
public final class LabDriver implements HypervisorDriver {

    public static final String PLATFORM = "qemu-lab";
    private static final Logger log = LoggerFactory.getLogger(LabDriver.class);

    private final Path labDir;

    /** @param varDir the Periscope var directory (lab.sh's {@code PERISCOPE_VAR}); VMs live in its lab/ */
    public LabDriver(Path varDir) {
        this.labDir = varDir.resolve("lab");
    }

    /**
     * The var directory lab.sh uses without configuration: {@code $PERISCOPE_VAR}, else {@code <repo>/var} with
     * the repository from the system property periscope.repo, else the working directory.
     */
    public static Path defaultVarDir() {
        String env = System.getenv("PERISCOPE_VAR");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("periscope.repo", ".")).resolve("var");
    }

    @Override
    public String platform() {
        return PLATFORM;
    }

    @Override
    public List<DomainInfo> domains() {
        List<DomainInfo> result = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(labDir)) {
            dirs.filter(Files::isDirectory).sorted().forEach(dir -> meta(dir).ifPresent(m -> result.add(info(m))));
        } catch (NoSuchFileException e) {
            return List.of(); // no VM was ever started here
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot list lab VMs in " + labDir + ": " + e.getMessage(), e);
        }
        result.sort(Comparator.comparing(DomainInfo::name));
        return List.copyOf(result);
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return validName(name) ? meta(labDir.resolve(name)).map(LabDriver::info) : Optional.empty();
    }

    @Override
    public Set<Capability> capabilities(String name) {
        if (!validName(name)) {
            return Set.of();
        }
        return meta(labDir.resolve(name)).filter(LabMeta::running).map(LabDomain::capabilitiesOf).orElse(Set.of());
    }

    @Override
    public Domain open(String name) {
        if (!validName(name)) {
            throw new VmGoneException("no lab VM named \"" + name + "\"");
        }
        LabMeta meta = meta(labDir.resolve(name))
                .orElseThrow(() -> new VmGoneException("no lab VM named \"" + name + "\" in " + labDir));
        DomainInfo info = info(meta);
        if (!info.running()) {
            throw new VmGoneException("lab VM " + name + " is not running");
        }
        return new LabDomain(meta, info);
    }

    @Override
    public void close() {
        // nothing held: each Domain owns its own resources
    }

    private Optional<LabMeta> meta(Path runDir) {
        if (!Files.isRegularFile(runDir.resolve("meta.json"))) {
            return Optional.empty();
        }
        try {
            return Optional.of(LabMeta.read(runDir));
        } catch (IOException | RuntimeException e) {
            // lab.sh writes meta.json atomically; a bad one is someone else's file, not a reason to fail listing
            log.warn("ignoring unreadable {}/meta.json: {}", runDir, e.getMessage());
            return Optional.empty();
        }
    }

    private static DomainInfo info(LabMeta meta) {
        return new DomainInfo(meta.name(), meta.tenant(), PLATFORM, meta.running(), meta.memoryMib() << 20,
                meta.kernelVersion(), meta.workload(), meta.startedAt());
    }

    /** The names lab.sh accepts; anything else could escape the lab directory. */
    private static boolean validName(String name) {
        return name != null && name.matches("[a-z0-9][a-z0-9-]{0,31}");
    }

    @Override
    public String toString() {
        return "LabDriver[" + labDir + "]";
    }
}
