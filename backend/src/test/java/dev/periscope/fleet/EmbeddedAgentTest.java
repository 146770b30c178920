package dev.periscope.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.periscope.system.PeriscopeProperties;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.DomainInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * The embedded agent's platforms: the QEMU lab always, libvirt when it is on, a libvirt that does not answer, and a
 * directory of memory images when {@code periscope.images.dir} is set.
 */
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

    @Test
    void aDirectoryOfMemoryImagesIsServedWhenSet() throws IOException {
        Path images = Files.createDirectory(var.resolve("images"));
        Files.write(images.resolve("crashed-web.elf"), new byte[4096]);
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString(),
                "periscope.libvirt.enabled", "false", "periscope.images.dir", images.toString(),
                "periscope.images.raw-layout", "flat"));
        try (HypervisorDriver driver = EmbeddedAgent.drivers(properties)) {
            assertThat(driver.platform()).isEqualTo("qemu-lab+image");
            assertThat(driver.domains()).extracting(DomainInfo::name, DomainInfo::platform)
                    .containsExactly(tuple("crashed-web", "image"));
        }
        assertThat(properties(Map.of("periscope.var-dir", var.toString())).images().directory()).isEmpty();
    }
}
