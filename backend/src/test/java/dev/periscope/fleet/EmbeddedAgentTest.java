package dev.periscope.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.system.PeriscopeProperties;
import dev.periscope.vmi.driver.HypervisorDriver;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/** The embedded agent's platforms: the QEMU lab always, libvirt when it is on, and a libvirt that does not answer. */
class EmbeddedAgentTest {

    @TempDir
    Path var;

    private PeriscopeProperties properties(Map<String, String> values) {
        return new Binder(new MapConfigurationPropertySource(values)).bindOrCreate("periscope",
                PeriscopeProperties.class);
    }

    @Test
    void aLibvirtThatCannotBeReachedLeavesTheLabListed() {
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString(),
                "periscope.libvirt.enabled", "true",
                "periscope.libvirt.uri", "qemu+unix:///system?socket=" + var.resolve("no-libvirt.sock")));
        try (HypervisorDriver driver = EmbeddedAgent.drivers(properties)) {
            assertThat(driver.platform()).isEqualTo("qemu-lab+libvirt");
            assertThat(driver.domains()).isEmpty();
            assertThat(driver.domain("anything")).isEmpty();
        }
    }

    @Test
    void libvirtCanBeLeftOut() {
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString(),
                "periscope.libvirt.enabled", "false"));
        try (HypervisorDriver driver = EmbeddedAgent.drivers(properties)) {
            assertThat(driver.platform()).isEqualTo("qemu-lab");
        }
    }
}
