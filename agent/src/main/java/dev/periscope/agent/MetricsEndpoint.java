package dev.periscope.agent;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * The agent's Prometheus metrics and health over plain HTTP, at the paths the control plane uses too:
 * {@code /actuator/prometheus}, {@code /actuator/health} (liveness) and {@code /actuator/health/readiness} (ready
 * once the agent API listens). Read-only; nothing about guests beyond counters.
 */
final class MetricsEndpoint implements AutoCloseable {

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final HttpServer server;

    MetricsEndpoint(InetSocketAddress listen, BooleanSupplier ready) {
        try {
            server = HttpServer.create(listen, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("metrics cannot listen on " + listen + ": " + e.getMessage(), e);
        }
        server.setExecutor(Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name("agent-metrics").factory()));
        server.createContext("/actuator/prometheus", ex -> reply(ex, 200, "text/plain; version=0.0.4", registry.scrape()));
        server.createContext("/actuator/health/readiness", ex -> health(ex, ready.getAsBoolean()));
        server.createContext("/actuator/health/liveness", ex -> health(ex, true));
        server.createContext("/actuator/health", ex -> health(ex, true));
        server.start();
    }

    PrometheusMeterRegistry registry() {
        return registry;
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void health(HttpExchange ex, boolean up) throws IOException {
        reply(ex, up ? 200 : 503, "application/json", up ? "{\"status\":\"UP\"}" : "{\"status\":\"DOWN\"}");
    }

    private static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
