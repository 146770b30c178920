package dev.periscope.system;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.lab.LabDriver;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/** The VMI engine over the lab driver, and the bounded scheduler every blocking engine call runs on. */
@Configuration(proxyBeanMethods = false)
class EngineConfiguration {

    @Bean(destroyMethod = "close")
    VmiEngine vmiEngine(PeriscopeProperties properties) {
        return new VmiEngine(new LabDriver(properties.labDirectory()));
    }

    @Bean(destroyMethod = "dispose")
    Scheduler engineReads(PeriscopeProperties properties) {
        return Schedulers.newBoundedElastic(properties.readThreads(), properties.readQueue(), "vmi-read");
    }
}
