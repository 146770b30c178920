package dev.periscope.agent.session;

import com.google.protobuf.Timestamp;
import dev.periscope.agent.api.Dropped;
import dev.periscope.agent.api.SessionMessage;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The messages of one agent session: numbered from 1 (overhead samples aside), the newest {@code replay} kept for
 * subscribers that resume (any control-plane replica may subscribe, and subscribe again after a reconnect), each
 * message fanned out to every subscriber through its own bounded {@link StreamSubscriber}. A subscriber that resumes
 * from before what is kept gets a {@code REPLAY} marker counting the messages it missed, and the drop markers among
 * them as they were: a drop marker stands for as many lost events as it counts, not for one. Memory is bounded by the
 * replay buffer, {@link #MARKERS_KEPT} drop markers and each subscriber's queue. Thread-safe; the lock order is
 * stream, then subscriber.
 */
final class SessionStream {

    /**
     * The most drop markers kept after the replay let them go. Past it the oldest is added into the next one of its
     * site: a subscriber resuming between the two then hears of the older loss twice, too many and never too few.
     */
    static final int MARKERS_KEPT = 256;

    private final int replay;
    private final int subscriberCapacity;
    private final ArrayDeque<SessionMessage> recent = new ArrayDeque<>();
    /** Drop markers the replay let go, oldest first. */
    private final List<LetGo> markersLetGo = new ArrayList<>();
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
                letGo(recent.poll());
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
                List<LetGo> markers = markersLetGo.stream().filter(m -> m.marker().getSeq() > afterSeq).toList();
                long missed = oldest - afterSeq - 1 - markers.stream().mapToLong(LetGo::markers).sum();
                if (missed > 0) {
                    s.gap(missed);
                }
                markers.forEach(m -> s.offer(m.marker()));
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

    /** A drop marker the replay let go, and how many of the stream's markers it stands for (more once merged). */
    private record LetGo(SessionMessage marker, int markers) {
    }

    /** A message the replay no longer keeps: a drop marker is kept aside, for subscribers resuming from before it. */
    private void letGo(SessionMessage m) {
        if (!m.hasDropped()) {
            return;
        }
        markersLetGo.add(new LetGo(m, 1));
        if (markersLetGo.size() > MARKERS_KEPT) {
            mergeOldest();
        }
    }

    /** Adds the oldest marker with a later one of its site into that one (with more markers than sites, one has). */
    private void mergeOldest() {
        for (int i = 0; i < markersLetGo.size(); i++) {
            LetGo older = markersLetGo.get(i);
            for (int j = i + 1; j < markersLetGo.size(); j++) {
                LetGo later = markersLetGo.get(j);
                Dropped lost = later.marker().getDropped();
                if (lost.getSite() == older.marker().getDropped().getSite()) {
                    markersLetGo.set(j, new LetGo(later.marker().toBuilder().setDropped(lost.toBuilder()
                            .setCount(older.marker().getDropped().getCount() + lost.getCount())).build(),
                            older.markers() + later.markers()));
                    markersLetGo.remove(i);
                    return;
                }
            }
        }
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
