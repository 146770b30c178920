package dev.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.WatchDomainsRequest;
import dev.periscope.vmi.driver.HypervisorDriver;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A VM watch sends the list, its changes and heartbeats: a handful of messages, however fast its reader is. */
class DomainWatchTest {

    @TempDir
    Path images;

    @Test
    void aFastReaderGetsTheListAndHeartbeatsNotAFlood() throws Exception {
        Files.write(images.resolve("guest.raw"), new byte[2 * 4096]);
        Path pki = Path.of(System.getProperty("periscope.repo", "..")).resolve("agent"); // any existing files
        AgentConfig config = AgentConfig.parse(("--xen=off --libvirt=off --images=" + images + " --image-layout=flat"
                + " --tls-ca=" + pki + " --tls-cert=" + pki + " --tls-key=" + pki).split(" "), Map.of());
        String name = "domain-watch-test-" + System.nanoTime();
        AtomicInteger updates = new AtomicInteger();
        Duration watched = Duration.ofSeconds(3);
        try (HypervisorDriver driver = AgentMain.drivers(config);
             HostAgent agent = new HostAgent("host-w", driver, HostAgent.Settings.DEFAULT);
             AgentServer server = AgentServer.inProcess(agent, name)) {
            ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
            try {
                // the async stub asks for each next message as soon as one arrives: the fastest reader there is
                AgentGrpc.newStub(channel).watchDomains(WatchDomainsRequest.getDefaultInstance(),
                        new StreamObserver<>() {
                            @Override
                            public void onNext(DomainsUpdate update) {
                                updates.incrementAndGet();
                            }

                            @Override
                            public void onError(Throwable t) {
                            }

                            @Override
                            public void onCompleted() {
                            }
                        });
                Thread.sleep(watched.toMillis());
            } finally {
                channel.shutdownNow();
            }
        }
        Duration heartbeat = HostAgent.Settings.DEFAULT.heartbeat();
        long expected = 1 + watched.toMillis() / (heartbeat.toMillis() / 2) + 1;
        assertThat(updates.get()).as("the first list, then one at least every half heartbeat (%s)", heartbeat)
                .isBetween(1, (int) expected);
    }
}
