package dev.periscope.agent.session;

import dev.periscope.agent.api.DropSite;
import dev.periscope.agent.api.Dropped;
import dev.periscope.agent.api.SessionMessage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * One subscriber of a session's stream: a bounded queue in front of its gRPC stream, drained in batches while the
 * stream is ready (gRPC's flow control: a subscriber that reads slowly stops being ready). When the queue is full the
 * newest messages are lost, counted, and a {@link DropSite#AGENT_STREAM} marker takes their place before the next
 * message that fits: memory stays bounded and the session's producer never waits for a reader. A drop marker that
 * finds the queue full keeps its count for the next marker of its site, so no loss is ever reported as smaller than it
 * was; an overhead sample that finds it full is left out without a count (samples are cumulative: the next one says
 * it all).
 */
final class StreamSubscriber {

    private final SubscriberStream out;
    private final int capacity;
    private final ArrayDeque<SessionMessage> queue = new ArrayDeque<>();
    /** Losses not yet reported, by where they happened. */
    private final Map<DropSite, Long> pending = new EnumMap<>(DropSite.class);
    private long dropped;
    private boolean finishing;
    private boolean done;

    StreamSubscriber(SubscriberStream out, int capacity) {
        this.out = out;
        this.capacity = capacity;
    }

    /**
     * Queues a message (or counts it lost when the queue is full) and sends what the stream can take. The session's
     * end is never lost: it may exceed the queue by itself and the markers before it (one per site at most).
     */
    synchronized void offer(SessionMessage m) {
        if (done || finishing) {
            return;
        }
        if (queue.size() >= capacity && !m.hasEnded()) {
            if (m.hasOverhead()) {
                return; // samples are cumulative: the next one carries what this one said, nothing is lost
            }
            if (m.hasDropped()) {
                pending.merge(m.getDropped().getSite(), m.getDropped().getCount(), Long::sum);
            } else {
                pending.merge(DropSite.AGENT_STREAM, 1L, Long::sum);
                dropped++;
            }
            return;
        }
        queuePending();
        queue.add(m);
        drain();
    }

    /** Queues a marker for each site with unreported losses. */
    private void queuePending() {
        pending.forEach((site, count) -> queue.add(marker(count, site)));
        pending.clear();
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

    /**
     * Sends while the stream is ready, what waits in batches; gRPC calls this again when it becomes ready. Losses are
     * reported as soon as the queue has room again, not only before the next message (the end of a burst would
     * otherwise wait for one).
     */
    synchronized void drain() {
        while (!done && out.call.isReady()) {
            if (!pending.isEmpty() && queue.size() < capacity) {
                queuePending();
            }
            if (queue.isEmpty()) {
                break;
            }
            out.send(batch());
        }
        if (!done && finishing && queue.isEmpty()) {
            done = true;
            out.call.onCompleted();
        }
    }

    /** The oldest waiting messages, at least one, up to what one gRPC message of the stream carries. */
    private List<SessionMessage> batch() {
        List<SessionMessage> batch = new ArrayList<>(Math.min(queue.size(), out.messagesPerSend));
        long bytes = 0;
        do {
            SessionMessage m = queue.poll();
            bytes += m.getSerializedSize();
            batch.add(m);
        } while (!queue.isEmpty() && batch.size() < out.messagesPerSend
                && bytes + queue.peek().getSerializedSize() <= SubscriberStream.BATCH_BYTES);
        return batch;
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
