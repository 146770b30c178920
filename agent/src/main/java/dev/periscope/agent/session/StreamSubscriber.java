package dev.periscope.agent.session;

import dev.periscope.agent.api.DropSite;
import dev.periscope.agent.api.Dropped;
import dev.periscope.agent.api.SessionMessage;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;

/**
 * One subscriber of a session's stream: a bounded queue in front of its gRPC stream, drained while the stream is
 * ready (gRPC's flow control: a subscriber that reads slowly stops being ready). When the queue is full the newest
 * messages are lost, counted, and a {@link DropSite#AGENT_STREAM} marker takes their place before the next message
 * that fits: memory stays bounded and the session's producer never waits for a reader.
 */
final class StreamSubscriber {

    private final ServerCallStreamObserver<SessionMessage> out;
    private final int capacity;
    private final ArrayDeque<SessionMessage> queue = new ArrayDeque<>();
    private long pendingDrops;
    private long dropped;
    private boolean finishing;
    private boolean done;

    StreamSubscriber(ServerCallStreamObserver<SessionMessage> out, int capacity) {
        this.out = out;
        this.capacity = capacity;
    }

    /**
     * Queues a message (or counts it lost when the queue is full) and sends what the stream can take. The session's
     * end is never lost: it may exceed the queue by itself and the marker before it.
     */
    synchronized void offer(SessionMessage m) {
        if (done || finishing) {
            return;
        }
        if (queue.size() >= capacity && !m.hasEnded()) {
            pendingDrops++;
            dropped++;
            return;
        }
        if (pendingDrops > 0) {
            queue.add(marker(pendingDrops, DropSite.AGENT_STREAM));
            pendingDrops = 0;
        }
        queue.add(m);
        drain();
    }

    /** Queues a marker for messages this subscriber will never see (a resume older than the replay buffer). */
    synchronized void gap(long count) {
        queue.add(marker(count, DropSite.REPLAY));
    }

    /** No more messages: completes the stream once the queue is sent. */
    synchronized void finish() {
        finishing = true;
        drain();
    }

    /** Sends while the stream is ready; gRPC calls this again when it becomes ready. */
    synchronized void drain() {
        while (!done && !queue.isEmpty() && out.isReady()) {
            out.onNext(queue.poll());
        }
        if (!done && finishing && queue.isEmpty()) {
            done = true;
            out.onCompleted();
        }
    }

    /** The subscriber went away (cancelled): nothing more is sent. */
    synchronized void cancelled() {
        done = true;
        queue.clear();
    }

    synchronized boolean done() {
        return done;
    }

    synchronized long dropped() {
        return dropped;
    }

    private static SessionMessage marker(long count, DropSite site) {
        return SessionMessage.newBuilder().setDropped(Dropped.newBuilder().setCount(count).setSite(site)).build();
    }
}
