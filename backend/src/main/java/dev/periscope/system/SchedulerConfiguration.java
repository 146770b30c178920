package dev.periscope.system;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The bounded scheduler for the control plane's own blocking work (reading result files): never the Netty event
 * loop. Guest memory is read on the agents, on theirs.
 */
@Configuration(proxyBeanMethods = false)
class SchedulerConfiguration {

    @Bean(destroyMethod = "dispose")
    Scheduler blockingReads(PeriscopeProperties properties) {
        return Schedulers.newBoundedElastic(properties.readThreads(), properties.readQueue(), "blocking-read");
    }
}
