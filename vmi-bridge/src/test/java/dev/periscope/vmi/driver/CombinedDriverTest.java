package dev.periscope.vmi.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CombinedDriverTest {

    private final ImageDriver lab = new ImageDriver("qemu-lab", "web-1", "shared");
    private final ImageDriver xen = new ImageDriver("xen", "xt1", "shared");
    /** A platform that cannot be reached (its host's hypervisor library or daemon is not there). */
    private final HypervisorDriver absent = new HypervisorDriver() {
        @Override
        public String platform() {
            return "xen";
        }

        @Override
        public List<DomainInfo> domains() {
            throw new PlatformUnavailableException("xen: not reachable");
        }

        @Override
        public Optional<DomainInfo> domain(String name) {
            throw new PlatformUnavailableException("xen: not reachable");
        }

        @Override
        public Set<Capability> capabilities(String name) {
            throw new PlatformUnavailableException("xen: not reachable");
        }

        @Override
        public Domain open(String name) {
            throw new PlatformUnavailableException("xen: not reachable");
        }

        @Override
        public void close() {
        }
    };

    @Test
    void listsEveryReachablePlatformsGuestsWithTheirPlatform() {
        try (CombinedDriver all = new CombinedDriver(List.of(lab, absent, xen))) {
            assertThat(all.domains()).extracting(DomainInfo::name, DomainInfo::platform).containsExactly(
                    tuple("web-1", "qemu-lab"),
                    tuple("shared", "qemu-lab"),
                    tuple("xt1", "xen"));
            assertThat(all.platform()).isEqualTo("qemu-lab+xen+xen");
        }
    }

    @Test
    void aNameBelongsToTheFirstPlatformThatHasIt() {
        try (CombinedDriver all = new CombinedDriver(List.of(lab, xen))) {
            assertThat(all.domain("shared").orElseThrow().platform()).isEqualTo("qemu-lab");
            all.open("shared").close();
            all.open("xt1").close();
            assertThat(lab.image("shared").opened.get()).isEqualTo(1);
            assertThat(xen.image("shared").opened.get()).isZero();
            assertThat(xen.image("xt1").opened.get()).isEqualTo(1);
        }
    }

    @Test
    void anUnknownOrUnreachableGuestIsGone() {
        try (CombinedDriver all = new CombinedDriver(List.of(absent, lab))) {
            assertThat(all.domain("xt1")).isEmpty();
            assertThat(all.capabilities("xt1")).isEmpty();
            assertThatThrownBy(() -> all.open("xt1")).isInstanceOf(VmGoneException.class);
            assertThat(all.capabilities("web-1")).contains(Capability.READ_MEMORY);
        }
    }
}
