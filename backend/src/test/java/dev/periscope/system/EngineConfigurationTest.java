package dev.periscope.system;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.ImageDriver;
import dev.periscope.vmi.driver.remote.DriverServer;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * The engine's fleet: the QEMU lab's VMs, the Xen lab's domains while its endpoint file names a server, and the
 * host's libvirt domains (left out here unless a test names a libvirt, so the host's own domains do not show).
 */
class EngineConfigurationTest {

    @TempDir
    Path var;

    @Test
    void xenDomainsJoinTheFleetWhileTheLabAnnouncesItsDriverServer() throws Exception {
        Path endpoint = var.resolve("lab/xen/machine/agent.endpoint");
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString()));
        assertThat(properties.xenEndpointFile()).isEqualTo(endpoint);
        try (ImageDriver xen = new ImageDriver("xen", "xt1");
             DriverServer server = new DriverServer(xen, new InetSocketAddress("127.0.0.1", 0), "tok");
             VmiEngine engine = new EngineConfiguration().vmiEngine(properties)) {
            assertThat(engine.domains()).isEmpty(); // no endpoint file: the Xen lab is not up

            Files.createDirectories(endpoint.getParent());
            Files.writeString(endpoint, "127.0.0.1 " + server.port() + " tok\n");
            assertThat(engine.domains()).extracting(DomainInfo::name, DomainInfo::platform)
                    .containsExactly(tuple("xt1", "xen"));

            Files.delete(endpoint); // down
            assertThat(engine.domains()).isEmpty();
        }
    }

    @Test
    void theXenLabCanBeLeftOut() throws Exception {
        Path endpoint = var.resolve("elsewhere.endpoint");
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString(),
                "periscope.xen-lab.endpoint-file", endpoint.toString(), "periscope.xen-lab.enabled", "false"));
        assertThat(properties.xenEndpointFile()).isEqualTo(endpoint);
        try (ImageDriver xen = new ImageDriver("xen", "xt1");
             DriverServer server = new DriverServer(xen, new InetSocketAddress("127.0.0.1", 0), "tok");
             VmiEngine engine = new EngineConfiguration().vmiEngine(properties)) {
            Files.writeString(endpoint, "127.0.0.1 " + server.port() + " tok\n");
            assertThat(engine.domains()).isEmpty();
        }
    }

    @Test
    void aLibvirtThatCannotBeReachedLeavesTheRestOfTheFleetListed() throws Exception {
        PeriscopeProperties properties = properties(Map.of("periscope.var-dir", var.toString(),
                "periscope.libvirt.enabled", "true",
                "periscope.libvirt.uri", "qemu+unix:///system?socket=" + var.resolve("no-libvirt.sock")));
        assertThat(properties.libvirt().active()).isTrue();
        try (VmiEngine engine = new EngineConfiguration().vmiEngine(properties)) {
            assertThat(engine.domains()).isEmpty();
            assertThat(engine.domain("anything")).isEmpty();
        }
        assertThat(properties(Map.of("periscope.libvirt.enabled", "false")).libvirt().active()).isFalse();
    }

    private static PeriscopeProperties properties(Map<String, String> values) {
        Map<String, String> all = new HashMap<>(Map.of("periscope.libvirt.enabled", "false"));
        all.putAll(values);
        return new Binder(new MapConfigurationPropertySource(all)).bind("periscope", PeriscopeProperties.class)
                .orElseThrow(() -> new AssertionError("periscope properties did not bind"));
    }
}
