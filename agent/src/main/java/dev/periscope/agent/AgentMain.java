package dev.periscope.agent;

import dev.periscope.vmi.driver.CombinedDriver;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.libvirt.LibvirtDriver;
import dev.periscope.vmi.driver.xen.XenDriver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code periscope-agent}: runs the agent of this host until it is stopped (SIGTERM/SIGINT). Options in
 * {@link AgentConfig}; e.g. {@code java -jar periscope-agent.jar --lab-dir=var --tls-ca=ca.pem --tls-cert=agent.pem
 * --tls-key=agent.key}. Exit code 2 for a bad configuration, 1 when it cannot start.
 */
public final class AgentMain {

    private static final Logger log = LoggerFactory.getLogger(AgentMain.class);

    private AgentMain() {
    }

    public static void main(String[] args) {
        AgentConfig config;
        try {
            config = AgentConfig.parse(args, System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("periscope-agent: " + e.getMessage());
            System.exit(2);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        try (HypervisorDriver driver = drivers(config);
             HostAgent agent = new HostAgent(config.host(), driver, HostAgent.Settings.DEFAULT
                     .withEngineThreads(config.engineThreads()).withOrphanTimeout(config.orphanTimeout()));
             AgentServer server = AgentServer.overTls(agent, config.listen(), config.tls());
             MetricsEndpoint metrics = config.metrics() == null ? null
                     : new MetricsEndpoint(config.metrics(), () -> !config.servesNoPlatform())) {
            if (metrics != null) {
                AgentMetrics.bind(agent, metrics.registry());
            }
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stopped.countDown();
                try {
                    main.join(10_000); // let main close the sessions, the API and the engine before the JVM exits
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "agent-stop"));
            if (config.servesNoPlatform()) {
                log.warn("no platform on this host (no --lab-dir, no /dev/xen/privcmd, no libvirt socket): serving no "
                        + "VM and not ready until started again with one");
            }
            log.info("periscope-agent {} for host {} ({}) listening on {}{}", HostAgent.VERSION, agent.host(),
                    driver.platform(), config.listen(), metrics == null ? "" : ", metrics on :" + metrics.port());
            System.out.println("periscope-agent: ready on port " + server.port());
            stopped.await();
            log.info("periscope-agent stopping");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.error("periscope-agent failed: {}", e.getMessage(), e);
            System.exit(1);
        }
    }

    /** The platforms of this host: the QEMU lab's VMs, Xen's domains in a dom0, libvirt's domains. */
    static HypervisorDriver drivers(AgentConfig config) {
        List<HypervisorDriver> drivers = new ArrayList<>();
        if (config.labDir() != null) {
            drivers.add(new LabDriver(config.labDir()));
        }
        if (config.xen()) {
            drivers.add(new XenDriver());
        }
        if (config.libvirt() != null) {
            drivers.add(new LibvirtDriver(config.libvirt()));
        }
        return drivers.size() == 1 ? drivers.getFirst() : new CombinedDriver(drivers);
    }
}
