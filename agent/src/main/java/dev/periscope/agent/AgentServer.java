package dev.periscope.agent;

import io.grpc.Server;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/** The agent API of a {@link HostAgent} on a transport: mutual TLS on a port, or in-process (the embedded server). */
public final class AgentServer implements AutoCloseable {

    private final Server server;

    private AgentServer(Server server) {
        try {
            this.server = server.start();
        } catch (IOException e) {
            throw new UncheckedIOException("the agent API could not start: " + e.getMessage(), e);
        }
    }

    /** Listens on {@code listen} for control planes whose certificate the CA in {@code tls} signed. */
    public static AgentServer overTls(HostAgent agent, InetSocketAddress listen, TlsFiles tls) {
        return new AgentServer(NettyServerBuilder.forAddress(listen, tls.server())
                .addService(agent.service())
                // control planes ping every few seconds to notice a lost agent; allow it, and notice lost ones too
                .permitKeepAliveTime(1, TimeUnit.SECONDS).permitKeepAliveWithoutCalls(true)
                .keepAliveTime(10, TimeUnit.SECONDS).keepAliveTimeout(5, TimeUnit.SECONDS)
                .build());
    }

    /** Serves the agent inside this process under {@code name} (no network, no certificates). */
    public static AgentServer inProcess(HostAgent agent, String name) {
        return new AgentServer(InProcessServerBuilder.forName(name).addService(agent.service()).build());
    }

    /** The port it listens on (-1 in-process). */
    public int port() {
        return server.getPort();
    }

    /** Stops taking calls and ends the running ones (streams end; clients reconnect to another agent or later). */
    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
    }
}
