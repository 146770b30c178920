package dev.periscope.vmi.driver;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Several platforms as one: the host's QEMU lab and, when it runs, the Xen lab. A guest's name is its identity
 * across the fleet: when two platforms report the same name, the first driver's guest wins and the other is
 * left out (and logged), so a name never means two guests. A platform that cannot be reached is left out of
 * listings instead of failing them (each guest still says its platform in {@link DomainInfo#platform()}).
 * Thread-safe when its drivers are.
 */
public final class CombinedDriver implements HypervisorDriver {

    private static final Logger log = LoggerFactory.getLogger(CombinedDriver.class);

    private final List<HypervisorDriver> drivers;

    /** Joins {@code drivers}; none at all is a host without platforms: no domains, platform "". */
    public CombinedDriver(List<HypervisorDriver> drivers) {
        this.drivers = List.copyOf(drivers);
    }

    @Override
    public String platform() {
        return String.join("+", drivers.stream().map(HypervisorDriver::platform).toList());
    }

    @Override
    public List<DomainInfo> domains() {
        List<DomainInfo> all = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (HypervisorDriver d : drivers) {
            for (DomainInfo info : reachable(d, HypervisorDriver::domains, List.<DomainInfo>of())) {
                if (names.add(info.name())) {
                    all.add(info);
                } else {
                    log.warn("{} guest {} is hidden: another platform has a guest of that name", d.platform(), info.name());
                }
            }
        }
        return List.copyOf(all);
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return find(name).map(Found::info);
    }

    @Override
    public Set<Capability> capabilities(String name) {
        return find(name).map(f -> reachable(f.driver(), x -> x.capabilities(name), Set.<Capability>of()))
                .orElse(Set.of());
    }

    @Override
    public Domain open(String name) {
        return find(name).orElseThrow(() -> new VmGoneException("no VM named " + name)).driver().open(name);
    }

    /** A guest and the driver that reports it. */
    private record Found(HypervisorDriver driver, DomainInfo info) {
    }

    /** The guest of this name on the first platform that has one. */
    private Optional<Found> find(String name) {
        for (HypervisorDriver d : drivers) {
            Optional<DomainInfo> info = reachable(d, x -> x.domain(name), Optional.empty());
            if (info.isPresent()) {
                return Optional.of(new Found(d, info.get()));
            }
        }
        return Optional.empty();
    }

    private static <T> T reachable(HypervisorDriver d, Function<HypervisorDriver, T> call, T absent) {
        try {
            return call.apply(d);
        } catch (PlatformUnavailableException e) {
            log.debug("{} is not reachable: {}", d.platform(), e.getMessage());
            return absent;
        }
    }

    /** Closes every driver, even when one fails. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (HypervisorDriver d : drivers) {
            try {
                d.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
