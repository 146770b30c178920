package dev.periscope.agent.session;

import com.google.protobuf.Timestamp;
import dev.periscope.agent.api.SessionMessage;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The messages of one agent session: numbered from 1 (overhead samples aside), the newest {@code replay} kept for
 * subscribers that resume (any control-plane replica may subscribe, and subscribe again after a reconnect), each
 * message fanned out to every subscriber through its own bounded {@link StreamSubscriber}. Memory is bounded by the
 * replay buffer plus each subscriber's queue. Thread-safe; the lock order is stream, then subscriber.
 */
final class SessionStream {

    private final int replay;
    private final int subscriberCapacity;
    private final ArrayDeque<SessionMessage> recent = new ArrayDeque<>();
    private final List<StreamSubscriber> subscribers = new ArrayList<>();
    private long lastSeq;
    private boolean ended;
    private long unwatchedSinceNs;

    SessionStream(int replay, int subscriberCapacity, long firstSeq) {
        this.replay = replay;
        this.subscriberCapacity = subscriberCapacity;
        this.lastSeq = firstSeq - 1;
        this.unwatchedSinceNs = System.nanoTime();
    }

    /**
     * Numbers {@code m}, keeps it for resuming subscribers and offers it to every subscriber. An {@code ended} message
     * is the last: subscribers complete once they have sent it. Messages after the end (a run's last result racing its
     * stop) are discarded.
     *
     * @return its sequence number (0 for an overhead sample), or -1 when the stream had ended
     */
    synchronized long append(SessionMessage.Builder m) {
        if (ended) {
            return -1;
        }
        if (!m.hasAt()) {
            Instant now = Instant.now();
            m.setAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()));
        }
        // an overhead sample is not numbered nor kept: it is cumulative (the next one says all it said), and a
        // subscriber's full queue leaves it out, which a number would show as a loss nobody counted
        boolean sample = m.hasOverhead();
        SessionMessage message = sample ? m.build() : m.setSeq(++lastSeq).build();
        if (!sample) {
            recent.add(message);
            if (recent.size() > replay) {
                recent.poll();
            }
        }
        ended = message.hasEnded();
        subscribers.removeIf(StreamSubscriber::done);
        for (StreamSubscriber s : subscribers) {
            s.offer(message);
            if (ended) {
                s.finish();
            }
        }
        return sample ? 0 : lastSeq;
    }

    /**
     * Subscribes {@code out} to the messages after {@code afterSeq}: those still kept, then live ones. A resume older
     * than what is kept starts with a marker counting what it missed.
     */
    void subscribe(long afterSeq, SubscriberStream out) {
        StreamSubscriber s = new StreamSubscriber(out, subscriberCapacity);
        out.call.setOnCancelHandler(() -> {
            s.cancelled();
            detach(s);
        });
        out.call.setOnReadyHandler(s::drain);
        synchronized (this) {
            long oldest = recent.isEmpty() ? lastSeq + 1 : recent.peek().getSeq();
            if (afterSeq + 1 < oldest && afterSeq < lastSeq) {
                s.gap(oldest - afterSeq - 1);
            }
            for (SessionMessage m : recent) {
                if (m.getSeq() > afterSeq) {
                    s.offer(m);
                }
            }
            if (ended) {
                s.finish();
            } else {
                subscribers.add(s);
            }
        }
        s.drain();
    }

    private synchronized void detach(StreamSubscriber s) {
        subscribers.remove(s);
        if (subscribers.isEmpty()) {
            unwatchedSinceNs = System.nanoTime();
        }
    }

    /** Nanoseconds since the last subscriber left (or since the start), 0 while somebody subscribes. */
    synchronized long unwatchedNanos() {
        subscribers.removeIf(StreamSubscriber::done);
        return subscribers.isEmpty() ? System.nanoTime() - unwatchedSinceNs : 0;
    }

    synchronized long lastSeq() {
        return lastSeq;
    }

    synchronized boolean ended() {
        return ended;
    }

    synchronized int subscribers() {
        return subscribers.size();
    }
}
