package dev.periscope.fleet;

import dev.periscope.agent.AgentServer;
import dev.periscope.agent.HostAgent;
import dev.periscope.system.PeriscopeProperties;
import dev.periscope.vmi.driver.CombinedDriver;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.libvirt.LibvirtDriver;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.util.ArrayList;
import java.util.List;

/**
 * The embedded server's own agent: the same agent a host runs, over this machine's QEMU lab and libvirt domains,
 * served in-process (no network, no certificates). The control plane reaches it through a link like any other agent.
 */
final class EmbeddedAgent implements AutoCloseable {

    private final HypervisorDriver driver;
    private final HostAgent agent;
    private final AgentServer server;
    private final String name;

    EmbeddedAgent(String host, PeriscopeProperties properties) {
        this.driver = drivers(properties);
        this.agent = new HostAgent(host, driver, HostAgent.Settings.DEFAULT);
        this.name = "periscope-embedded-agent-" + host + "-" + System.identityHashCode(this);
        this.server = AgentServer.inProcess(agent, name);
    }

    /** This machine's platforms: the QEMU lab, and the host's libvirt domains when libvirt runs here. */
    static HypervisorDriver drivers(PeriscopeProperties properties) {
        List<HypervisorDriver> drivers = new ArrayList<>(List.of(new LabDriver(properties.labDirectory())));
        if (properties.libvirt().active()) {
            drivers.add(new LibvirtDriver(properties.libvirt().config()));
        }
        return new CombinedDriver(drivers);
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
