package dev.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.WatchDomainsRequest;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.libvirt.LibvirtConfig;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent API over mutual TLS with certificates from the project's own script (agent/certs.sh): a control plane the
 * CA signed is served; a caller with another CA's certificate or none is refused; an agent with another CA's
 * certificate is refused by the control plane.
 */
class AgentTlsTest {

    @TempDir
    static Path pki;
    @TempDir
    Path lab;
    private HostAgent agent;
    private AgentServer server;
    private ManagedChannel channel;

    @BeforeAll
    static void certificates() throws Exception {
        certs(pki.resolve("fleet"), "host-a");
        certs(pki.resolve("rogue"), "host-a");
    }

    static void certs(Path dir, String agent) throws IOException, InterruptedException {
        Path script = Path.of(System.getProperty("periscope.repo", "..")).resolve("agent/certs.sh");
        Process p = new ProcessBuilder("bash", script.toString(), dir.toString(), "--agent", agent)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    static TlsFiles files(String set, String who) {
        Path d = pki.resolve(set);
        return new TlsFiles(d.resolve("ca.pem"), d.resolve(who + ".pem"), d.resolve(who + ".key"));
    }

    private int serve(TlsFiles tls) {
        agent = new HostAgent("host-a", new LabDriver(lab), HostAgent.Settings.DEFAULT);
        server = AgentServer.overTls(agent, new InetSocketAddress("127.0.0.1", 0), tls);
        return server.port();
    }

    private AgentGrpc.AgentBlockingStub client(int port, ChannelCredentials credentials) {
        channel = Grpc.newChannelBuilder("127.0.0.1:" + port, credentials).overrideAuthority(TlsFiles.AGENT_NAME).build();
        return AgentGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (server != null) {
            server.close();
        }
        if (agent != null) {
            agent.close();
        }
    }

    @Test
    void aControlPlaneSignedByTheCaIsServed() {
        var stub = client(serve(files("fleet", "agent-host-a")), files("fleet", "control-plane").client());
        HostInfo info = stub.getInfo(GetInfoRequest.getDefaultInstance());
        assertThat(info.getHost()).isEqualTo("host-a");
        assertThat(info.getPlatformsList()).extracting(p -> p.getName()).containsExactly(LabDriver.PLATFORM);
        Iterator<DomainsUpdate> watch = stub.watchDomains(WatchDomainsRequest.getDefaultInstance());
        DomainsUpdate first = watch.next();
        assertThat(first.getDomainsList()).isEmpty();
        assertThat(first.getHeartbeat().getSeconds()).isEqualTo(2);
    }

    @Test
    void aCallerWithAnotherCasCertificateIsRefused() {
        var stub = client(serve(files("fleet", "agent-host-a")), files("rogue", "control-plane").client());
        assertThatThrownBy(() -> stub.getInfo(GetInfoRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    }

    @Test
    void aCallerWithoutACertificateIsRefused() throws IOException {
        TlsFiles fleet = files("fleet", "control-plane");
        var stub = client(serve(files("fleet", "agent-host-a")),
                TlsChannelCredentials.newBuilder().trustManager(fleet.ca().toFile()).build());
        assertThatThrownBy(() -> stub.getInfo(GetInfoRequest.getDefaultInstance()))
                .isInstanceOf(StatusRuntimeException.class);
    }

    @Test
    void theControlPlaneRefusesAnAgentItsCaDidNotSign() {
        var stub = client(serve(files("rogue", "agent-host-a")), files("fleet", "control-plane").client());
        assertThatThrownBy(() -> stub.getInfo(GetInfoRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    }

    @Test
    void theAgentsConfigurationIsCheckedAtStartWithTheOptionsName() {
        Map<String, String> noEnv = Map.of();
        TlsFiles t = files("fleet", "agent-host-a");
        String tls = " --tls-ca=" + t.ca() + " --tls-cert=" + t.certificate() + " --tls-key=" + t.privateKey();
        assertThatThrownBy(() -> AgentConfig.parse(new String[] {"--lab-dir=" + lab}, noEnv))
                .hasMessageContaining("--tls-ca is required");
        assertThatThrownBy(() -> AgentConfig.parse(("--lab-dir=" + lab + " --colour=blue" + tls).split(" "), noEnv))
                .hasMessageContaining("unknown option --colour");
        assertThatThrownBy(() -> AgentConfig.parse(("--xen=off --libvirt=off" + tls).split(" "), noEnv))
                .hasMessageContaining("would serve no platform");
        assertThat(AgentConfig.parse(tls.strip().split(" "), Map.of("PERISCOPE_AGENT_XEN", "auto"))
                .servesNoPlatform()).as("auto on a host with neither Xen nor libvirt").isEqualTo(
                !Files.exists(Path.of("/dev/xen/privcmd")) && !LibvirtConfig.systemDaemonPresent());
        assertThatThrownBy(() -> AgentConfig.parse(("--lab-dir=" + lab + " --orphan-timeout=soon" + tls).split(" "),
                noEnv)).hasMessageContaining("--orphan-timeout must be a duration");
        AgentConfig c = AgentConfig.parse(("--host=h1 --xen=off --libvirt=off --listen=127.0.0.1:7999" + tls).split(" "),
                Map.of("PERISCOPE_AGENT_LAB_DIR", lab.toString(), "PERISCOPE_AGENT_ORPHAN_TIMEOUT", "2m"));
        assertThat(c.host()).isEqualTo("h1");
        assertThat(c.labDir()).isEqualTo(lab);
        assertThat(c.listen().getPort()).isEqualTo(7999);
        assertThat(c.orphanTimeout().toMinutes()).isEqualTo(2);
        assertThat(Files.exists(t.privateKey())).isTrue();
    }
}
