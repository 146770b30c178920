package dev.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.agent.api.Platform;
import dev.periscope.agent.api.WatchDomainsRequest;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.image.RawLayout;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --images}: the agent serves a directory of memory image files as VMs of platform "image" over the agent
 * API, and a file it cannot read comes back as the typed error with the reason. (A real guest's dumps and their
 * process lists are vmi-bridge's ImageLabTest.)
 */
class AgentImagesTest {

    @TempDir
    Path images;

    @Test
    void aDirectoryOfImagesIsAPlatform() throws IOException {
        Files.write(images.resolve("guest.raw"), new byte[2 * 4096]);
        Files.write(images.resolve("crash.dump"), "KDUMP   compressed".getBytes(StandardCharsets.US_ASCII));
        Path pki = Path.of(System.getProperty("periscope.repo", "..")).resolve("agent"); // any existing files
        String tls = " --tls-ca=" + pki + " --tls-cert=" + pki + " --tls-key=" + pki;
        AgentConfig config = AgentConfig.parse(("--xen=off --libvirt=off --images=" + images
                + " --image-layout=flat" + tls).split(" "), Map.of());
        assertThat(config.servesNoPlatform()).isFalse();
        assertThat(config.images().rawLayout()).isEqualTo(RawLayout.FLAT);
        assertThatThrownBy(() -> AgentConfig.parse(("--xen=off --libvirt=off --images=" + images.resolve("none")
                + tls).split(" "), Map.of())).hasMessageContaining("--images must be a directory");
        assertThatThrownBy(() -> AgentConfig.parse(("--images=" + images + " --image-layout=banana" + tls)
                .split(" "), Map.of())).hasMessageContaining("--image-layout: unknown RAM layout 'banana'");
        assertThatThrownBy(() -> AgentConfig.parse(("--lab-dir=" + images + " --image-layout=flat" + tls)
                .split(" "), Map.of())).hasMessageContaining("--image-layout applies to --images");

        String name = "images-test-" + System.nanoTime();
        try (HypervisorDriver driver = AgentMain.drivers(config);
             HostAgent agent = new HostAgent("host-i", driver, HostAgent.Settings.DEFAULT);
             AgentServer server = AgentServer.inProcess(agent, name)) {
            ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
            try {
                AgentGrpc.AgentBlockingStub stub = AgentGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(10, TimeUnit.SECONDS);
                assertThat(stub.getInfo(GetInfoRequest.getDefaultInstance()).getPlatformsList())
                        .extracting(Platform::getName).containsExactly("image");
                DomainsUpdate domains = stub.watchDomains(WatchDomainsRequest.getDefaultInstance()).next();
                assertThat(domains.getDomainsList()).extracting(Domain::getName).containsExactly("crash", "guest");
                assertThat(domains.getDomainsList()).allSatisfy(d -> {
                    assertThat(d.getPlatform()).isEqualTo("image");
                    assertThat(d.getRunning()).isTrue();
                });
                assertThatThrownBy(() -> stub.listProcesses(ListProcessesRequest.newBuilder().setVm("crash")
                        .setMode(AcquisitionMode.SNAPSHOT).build()))
                        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
                            assertThat(e.getStatus().getDescription()).contains("kdump-compressed");
                        });
                assertThatThrownBy(() -> stub.listProcesses(ListProcessesRequest.newBuilder().setVm("guest")
                        .setMode(AcquisitionMode.SNAPSHOT).build()))
                        .as("zeros hold no kernel").isInstanceOf(StatusRuntimeException.class);
            } finally {
                channel.shutdownNow();
            }
        }
    }
}
