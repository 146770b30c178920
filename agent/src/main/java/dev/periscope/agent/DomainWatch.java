package dev.periscope.agent;

import dev.periscope.agent.api.Domain;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's VMs for every {@code WatchDomains} stream: the engine's drivers are polled on one thread, and the list is
 * sent to each watcher when it changed and at least every heartbeat. Each poll also has the engine let go of VMs that
 * stopped since it attached them ({@link VmiEngine#releaseStopped()}) and of event channels no trace has used for
 * {@link #EVENTS_IDLE} ({@link VmiEngine#releaseIdleEvents}: Xen's one vm_event ring per domain is then free for a
 * tenant's own monitor). A watcher that is not ready (a slow or stalled control plane) is skipped and gets the newest
 * list once it is ready again: nothing queues up.
 */
final class DomainWatch implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DomainWatch.class);
    /**
     * How long a VM's event channel is kept with no trace on it: long enough that traces started one after another
     * share it, short enough that a tenant's monitor waits at most this long for the domain's vm_event ring.
     */
    static final Duration EVENTS_IDLE = Duration.ofSeconds(30);

    /** One watcher's stream. */
    private static final class Watcher {
        final ServerCallStreamObserver<DomainsUpdate> out;
        boolean done;
        /** The newest list it was not ready for: sent when it is (and only then). */
        DomainsUpdate unsent;

        Watcher(ServerCallStreamObserver<DomainsUpdate> out) {
            this.out = out;
        }
    }

    private final VmiEngine engine;
    private final Duration heartbeat;
    private final List<Watcher> watchers = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("agent-domain-watch").factory());
    private volatile DomainsUpdate latest;
    private long lastSentNs;

    DomainWatch(VmiEngine engine, Duration poll, Duration heartbeat) {
        this.engine = engine;
        this.heartbeat = heartbeat;
        this.latest = DomainsUpdate.newBuilder().setHeartbeat(Codec.duration(heartbeat)).build();
        poller.scheduleWithFixedDelay(this::poll, 0, poll.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Sends the newest list at once, then changes and heartbeats, until the watcher cancels. */
    void watch(ServerCallStreamObserver<DomainsUpdate> out) {
        Watcher w = new Watcher(out);
        out.setOnCancelHandler(() -> {
            synchronized (w) {
                w.done = true;
            }
            watchers.remove(w);
        });
        // only what the watcher missed while not ready: resending on every readiness made a ping-pong with a client
        // that asks for each next message (in process: two threads busy for good, sending the same list)
        out.setOnReadyHandler(() -> sendUnsent(w));
        watchers.add(w);
        send(w, latest);
    }

    /** The newest list (for tests and metrics). */
    DomainsUpdate latest() {
        return latest;
    }

    private void poll() {
        DomainsUpdate next;
        try {
            List<Domain> domains = new ArrayList<>();
            for (DomainInfo info : engine.domains()) {
                Set<Capability> capabilities = info.running() ? engine.capabilities(info.name()) : Set.of();
                domains.add(Codec.domain(info, capabilities));
            }
            next = DomainsUpdate.newBuilder().addAllDomains(domains).setHeartbeat(Codec.duration(heartbeat)).build();
            for (String vm : engine.releaseStopped()) {
                log.info("{} stopped or restarted: its traces ended and its memory, sockets and ring were let go", vm);
            }
            for (String vm : engine.releaseIdleEvents(EVENTS_IDLE)) {
                log.info("{}: no trace for {} s: its event channel was let go (the hypervisor's ring is free)", vm,
                        EVENTS_IDLE.toSeconds());
            }
        } catch (RuntimeException e) { // a platform that fails to list (VmiException) or a driver bug
            log.warn("listing the host's VMs failed: {}", e.toString());
            return; // keep the last list; the heartbeat still tells the control plane this agent lives
        }
        boolean changed = !next.equals(latest);
        latest = next;
        long now = System.nanoTime();
        if (changed || now - lastSentNs >= heartbeat.toNanos() / 2) {
            lastSentNs = now;
            for (Watcher w : watchers) {
                send(w, next);
            }
        }
    }

    /** Sends {@code update}, or keeps it for when the watcher is ready (its onReady handler sends it then). */
    private static void send(Watcher w, DomainsUpdate update) {
        synchronized (w) {
            if (w.done) {
                return;
            }
            if (w.out.isReady()) {
                w.unsent = null;
                w.out.onNext(update);
            } else {
                w.unsent = update;
            }
        }
    }

    private static void sendUnsent(Watcher w) {
        synchronized (w) {
            if (w.unsent != null) {
                send(w, w.unsent);
            }
        }
    }

    @Override
    public void close() {
        poller.shutdownNow();
        for (Watcher w : watchers) {
            synchronized (w) {
                if (!w.done) {
                    w.done = true;
                    w.out.onCompleted();
                }
            }
        }
        watchers.clear();
    }
}
