package dev.periscope.system;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.web.server.ManagementPortType;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.ReactiveHealthIndicator;
import org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.core.env.Environment;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * What an orchestrator and Prometheus ask of the control plane (application.yml's {@code management} section):
 * <ul>
 * <li>{@code /actuator/health/liveness}: the process works (its own state only, so a database outage never restarts
 * it);</li>
 * <li>{@code /actuator/health/readiness}: it can serve: the database answers ({@code r2dbc}) and an engine is reachable
 * ({@code agents}, this class);</li>
 * <li>{@code /actuator/prometheus}: Micrometer's metrics, REST latency histograms among them.</li>
 * </ul>
 * Health answers without credentials (statuses only, no details). Prometheus does too when the actuator has a port
 * of its own ({@code management.server.port}, as compose and the Helm chart set it: a port that no proxy or ingress
 * routes); on the API's port it needs an operator's credentials like everything else.
 */
@Configuration(proxyBeanMethods = false)
public class ObservabilityConfiguration {

    /**
     * Whether any engine can be reached: readiness fails while it says no. The fleet provides one bean of this type
     * (public for that); without it the engine runs in this process and is reachable whenever the process is.
     */
    @FunctionalInterface
    public interface EngineReachability {
        /** True while at least one agent (or the in-process engine) answers; called off the event loop. */
        boolean anyReachable();
    }

    /** The readiness group's {@code agents} member. */
    @Bean
    ReactiveHealthIndicator agentsHealthIndicator(ObjectProvider<EngineReachability> reachability) {
        return () -> Mono.fromCallable(() -> {
            EngineReachability fleet = reachability.getIfAvailable();
            if (fleet == null) {
                return Health.up().withDetail("engine", "in-process").build();
            }
            return fleet.anyReachable() ? Health.up().build()
                    : Health.down().withDetail("reason", "no agent reachable").build();
        }).subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * Health (and Prometheus on a port of its own) without credentials, ahead of the application's security chain
     * (which still guards every other path, Prometheus on the API's port included).
     */
    @Bean
    @Order(Ordered.HIGHEST_PRECEDENCE)
    SecurityWebFilterChain actuatorSecurityWebFilterChain(ServerHttpSecurity http, Environment environment) {
        boolean ownPort = ManagementPortType.get(environment) == ManagementPortType.DIFFERENT;
        var open = ownPort ? EndpointRequest.to("health", "prometheus") : EndpointRequest.to("health");
        return http.securityMatcher(open)
                .authorizeExchange(exchanges -> exchanges.anyExchange().permitAll())
                .csrf(ServerHttpSecurity.CsrfSpec::disable)
                .requestCache(ServerHttpSecurity.RequestCacheSpec::disable)
                .securityContextRepository(NoOpServerSecurityContextRepository.getInstance())
                .build();
    }
}
