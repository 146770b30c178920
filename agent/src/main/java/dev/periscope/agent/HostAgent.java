package dev.periscope.agent;

import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.session.AgentSessions;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The agent of one hypervisor host: the engine over the host's platforms, the sessions running on it and the watch
 * of its VMs, offered as the agent API ({@link #service()}) whatever the transport ({@link AgentServer}: mutual TLS
 * on a port, or in-process inside the embedded control plane). Owns the engine and its executors; the driver stays
 * the caller's.
 */
public final class HostAgent implements AutoCloseable {

    /** The agent's version, from its jar's manifest ("dev" when run from classes). */
    public static final String VERSION = version();

    /**
     * @param engineThreads threads for calls that read guest memory or wait for the engine
     * @param engineQueue   calls that may wait for one of them before calls are refused (RESOURCE_EXHAUSTED)
     * @param poll          how often the host's VMs are listed
     * @param heartbeat     the longest a VM watch stays silent
     * @param sessions      the sessions' buffers and timeouts
     */
    public record Settings(int engineThreads, int engineQueue, Duration poll, Duration heartbeat,
                           AgentSessions.Limits sessions) {
        public static final Settings DEFAULT = new Settings(4, 256, Duration.ofSeconds(1), Duration.ofSeconds(2),
                AgentSessions.Limits.DEFAULT);

        public Settings withEngineThreads(int threads) {
            return new Settings(threads, engineQueue, poll, heartbeat, sessions);
        }

        public Settings withOrphanTimeout(Duration timeout) {
            return new Settings(engineThreads, engineQueue, poll, heartbeat, new AgentSessions.Limits(sessions.replay(),
                    sessions.subscriberCapacity(), timeout, sessions.retention()));
        }

        public Settings {
            if (engineThreads < 1 || engineQueue < 1) {
                throw new IllegalArgumentException("engine threads and queue must be at least 1");
            }
            if (poll.isNegative() || poll.isZero() || heartbeat.compareTo(poll) < 0) {
                throw new IllegalArgumentException("the VM poll must be positive and the heartbeat at least the poll");
            }
        }
    }

    private final String host;
    private final Instant startedAt = Instant.now();
    private final List<String> platforms;
    private final VmiEngine engine;
    private final ThreadPoolExecutor engineCalls;
    private final Scheduler engineScheduler;
    private final Scheduler dispatch;
    private final AgentSessions sessions;
    private final DomainWatch domains;

    public HostAgent(String host, HypervisorDriver driver, Settings settings) {
        if (host == null || !host.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,62}")) {
            throw new IllegalArgumentException("a host name is 1 to 63 letters, digits, '.', '_' or '-': " + host);
        }
        this.host = host;
        this.platforms = Arrays.stream(driver.platform().split("\\+")).filter(p -> !p.isEmpty()).toList();
        this.engine = new VmiEngine(driver);
        this.engineCalls = new ThreadPoolExecutor(settings.engineThreads(), settings.engineThreads(), 60,
                TimeUnit.SECONDS, new ArrayBlockingQueue<>(settings.engineQueue()),
                Thread.ofPlatform().daemon().name("agent-engine-", 0).factory());
        this.engineScheduler = Schedulers.fromExecutor(engineCalls);
        this.dispatch = Schedulers.newParallel("agent-dispatch", 2, true);
        this.sessions = new AgentSessions(new HostEngine(), engineScheduler, dispatch, settings.sessions());
        this.domains = new DomainWatch(engine, settings.poll(), settings.heartbeat());
    }

    /** The agent API over this host, with every call logged ({@link CallerLog}). */
    public ServerServiceDefinition service() {
        return ServerInterceptors.intercept(new AgentService(this), new CallerLog());
    }

    public String host() {
        return host;
    }

    Instant startedAt() {
        return startedAt;
    }

    List<String> platforms() {
        return platforms;
    }

    VmiEngine engine() {
        return engine;
    }

    ThreadPoolExecutor engineCalls() {
        return engineCalls;
    }

    AgentSessions sessions() {
        return sessions;
    }

    DomainWatch domains() {
        return domains;
    }

    /** Calls waiting for an engine thread. */
    int engineBacklog() {
        return engineCalls.getQueue().size();
    }

    ProcessList processes(String vm, AcquisitionMode mode) {
        return Codec.processList(engine.processes(vm, mode), engine.profile(vm));
    }

    /** This host's engine as the sessions use it. */
    private final class HostEngine extends SessionEngine {
        @Override
        public TraceSession trace(String vm, TraceRequest request) {
            return engine.trace(vm, request);
        }

        @Override
        public ProcessList processes(String vm, AcquisitionMode mode) {
            return HostAgent.this.processes(vm, mode);
        }
    }

    /** Ends every session, stops watching and closes the engine (the driver stays the caller's). */
    @Override
    public void close() {
        sessions.close();
        domains.close();
        engine.close();
        engineCalls.shutdownNow();
        dispatch.dispose();
    }

    private static String version() {
        String v = HostAgent.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
