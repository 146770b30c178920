package dev.periscope.fleet;

import dev.periscope.agent.AgentServer;
import dev.periscope.agent.HostAgent;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.lab.LabDriver;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.nio.file.Path;

/**
 * The embedded server's own agent: the same agent a host runs, over this machine's QEMU lab, served in-process (no
 * network, no certificates). The control plane reaches it through a link like any other agent.
 */
final class EmbeddedAgent implements AutoCloseable {

    private final HypervisorDriver driver;
    private final HostAgent agent;
    private final AgentServer server;
    private final String name;

    EmbeddedAgent(String host, Path labDirectory) {
        this.driver = new LabDriver(labDirectory);
        this.agent = new HostAgent(host, driver, HostAgent.Settings.DEFAULT);
        this.name = "periscope-embedded-agent-" + host + "-" + System.identityHashCode(this);
        this.server = AgentServer.inProcess(agent, name);
    }

    String address() {
        return Agents.IN_PROCESS + name;
    }

    ManagedChannel channel() {
        return InProcessChannelBuilder.forName(name).build();
    }

    @Override
    public void close() {
        server.close();
        agent.close();
        driver.close();
    }
}
