package dev.periscope.system;

import java.time.Duration;
import org.springframework.boot.actuate.autoconfigure.web.server.ManagementPortType;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.ReactiveHealthIndicator;
import org.springframework.boot.security.autoconfigure.actuate.web.reactive.EndpointRequest;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.core.env.Environment;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;
import reactor.core.publisher.Mono;

/**
 * What an orchestrator and Prometheus ask of the control plane (application.yml's {@code management} section):
 * <ul>
 * <li>{@code /actuator/health/liveness}: the process works (its own state only, so a database outage never restarts
 * it);</li>
 * <li>{@code /actuator/health/readiness}: it can serve: the database answers ({@code database}, within
 * {@link #CHECK_TIMEOUT}: a database whose address went away leaves connections hanging much longer, and a probe must
 * hear "down" quickly, not time out) and an agent answers ({@code agents}, the fleet's own indicator);</li>
 * <li>{@code /actuator/prometheus}: Micrometer's metrics, REST latency histograms among them.</li>
 * </ul>
 * Health answers without credentials (statuses only, no details). Prometheus does too when the actuator has a port
 * of its own ({@code management.server.port}, as compose and the Helm chart set it: a port that no proxy or ingress
 * routes); on the API's port it needs an operator's credentials like everything else.
 */
@Configuration(proxyBeanMethods = false)
public class ObservabilityConfiguration {

    static final Duration CHECK_TIMEOUT = Duration.ofSeconds(2);

    /** The readiness group's {@code database} member: one query on the application's own connection pool. */
    @Bean
    ReactiveHealthIndicator databaseHealthIndicator(DatabaseClient database) {
        return () -> bounded(database.sql("SELECT 1").fetch().first().map(row -> Health.up().build()));
    }

    private static Mono<Health> bounded(Mono<Health> check) {
        return check.timeout(CHECK_TIMEOUT)
                .onErrorResume(e -> Mono.just(Health.down().withDetail("error", e.getClass().getSimpleName()).build()));
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
