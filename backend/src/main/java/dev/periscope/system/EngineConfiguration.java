package dev.periscope.system;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.CombinedDriver;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.libvirt.LibvirtDriver;
import dev.periscope.vmi.driver.remote.RemoteDriver;
import dev.periscope.vmi.driver.remote.RemoteEndpoint;
import dev.periscope.vmi.driver.xen.XenDriver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The VMI engine over the host's platforms (the QEMU lab, the Xen lab's domains through the driver server in its
 * dom0 while it runs, and the host's libvirt domains), and the bounded scheduler every blocking engine call runs on.
 */
@Configuration(proxyBeanMethods = false)
class EngineConfiguration {

    @Bean(destroyMethod = "close")
    VmiEngine vmiEngine(PeriscopeProperties properties) {
        List<HypervisorDriver> drivers = new ArrayList<>(List.of(new LabDriver(properties.labDirectory())));
        if (properties.xenLab().enabled()) {
            Path endpoint = properties.xenEndpointFile();
            drivers.add(new RemoteDriver(XenDriver.PLATFORM, () -> RemoteEndpoint.fromFile(endpoint)));
        }
        if (properties.libvirt().active()) {
            drivers.add(new LibvirtDriver(properties.libvirt().config()));
        }
        return new VmiEngine(new CombinedDriver(drivers));
    }

    @Bean(destroyMethod = "dispose")
    Scheduler engineReads(PeriscopeProperties properties) {
        return Schedulers.newBoundedElastic(properties.readThreads(), properties.readQueue(), "vmi-read");
    }
}
