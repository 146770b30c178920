package dev.periscope.session;

import java.util.ArrayDeque;
import java.util.Iterator;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;

/**
 * One subscriber's buffer in front of a session's events: at most {@code capacity} events wait for it. When it falls
 * behind, the oldest syscalls, process lists and process changes are dropped, counted, and a {@code dropped} marker
 * with their number ({@link SessionEvent.DropSite#STREAM}) is delivered right before the first event that came after
 * them, so the markers between two delivered events count exactly what was lost between them. What the session says
 * about itself (its state changes, notices such as a failing archive, the trace's start, the drop markers of the agent
 * and the engine) is never dropped for it, up to a hard limit of four buffers' worth that only a flood of such events
 * could reach.
 */
final class StreamBuffer {

    private static final int HARD_LIMIT = 4;

    /** An event waiting for the subscriber, after {@code lostBefore} events dropped since the one before it. */
    private static final class Waiting {
        final SessionEvent event;
        long lostBefore;

        Waiting(SessionEvent event, long lostBefore) {
            this.event = event;
            this.lostBefore = lostBefore;
        }
    }

    private final FluxSink<SessionEvent> out;
    private final String session;
    private final int capacity;
    private final ArrayDeque<Waiting> queue = new ArrayDeque<>();
    /** Events dropped after every waiting one: their marker goes before the next event to come. */
    private long lostAfterLast;
    private boolean completed;
    private boolean done;

    private StreamBuffer(FluxSink<SessionEvent> out, String session, int capacity) {
        this.out = out;
        this.session = session;
        this.capacity = capacity;
    }

    /** {@code events} through a buffer of {@code capacity}, for one subscriber. */
    static Flux<SessionEvent> over(Flux<SessionEvent> events, String session, int capacity) {
        return Flux.create(out -> {
            StreamBuffer buffer = new StreamBuffer(out, session, capacity);
            Disposable upstream = events.subscribe(buffer::offer, out::error, buffer::complete);
            out.onRequest(n -> buffer.drain());
            out.onDispose(upstream);
        });
    }

    /** Whether a slow subscriber may lose this event: the stream's bulk, never what the session says of itself. */
    static boolean droppable(SessionEvent e) {
        return switch (e.type()) {
            case SYSCALL, PROCESSES, PROCESS -> true;
            case STATE, NOTICE, TRACE, DROPPED -> false;
        };
    }

    private synchronized void offer(SessionEvent e) {
        if (done) {
            return;
        }
        queue.add(new Waiting(e, lostAfterLast));
        lostAfterLast = 0;
        if (queue.size() > capacity) {
            dropOldest();
        }
        drain();
    }

    /** Drops the oldest droppable event (past the hard limit, the oldest of all). */
    private void dropOldest() {
        for (Iterator<Waiting> it = queue.iterator(); it.hasNext(); ) {
            Waiting w = it.next();
            if (droppable(w.event)) {
                drop(it, w);
                return;
            }
        }
        if (queue.size() > HARD_LIMIT * capacity) {
            Iterator<Waiting> it = queue.iterator();
            drop(it, it.next());
        }
    }

    /** Removes {@code w}, the iterator's last, and counts it (with the losses before it) before the one after it. */
    private void drop(Iterator<Waiting> it, Waiting w) {
        it.remove();
        long lost = w.lostBefore + 1;
        if (it.hasNext()) {
            it.next().lostBefore += lost;
        } else {
            lostAfterLast += lost;
        }
    }

    private synchronized void complete() {
        completed = true;
        drain();
    }

    /** Delivers what the subscriber asked for, oldest first, each event after the marker of what was lost before it. */
    private synchronized void drain() {
        while (!done && out.requestedFromDownstream() > 0 && (!queue.isEmpty() || lostAfterLast > 0)) {
            Waiting head = queue.peek();
            if (head == null) {
                out.next(SessionEvent.dropped(session, lostAfterLast, SessionEvent.DropSite.STREAM));
                lostAfterLast = 0;
            } else if (head.lostBefore > 0) {
                out.next(SessionEvent.dropped(session, head.lostBefore, SessionEvent.DropSite.STREAM));
                head.lostBefore = 0;
            } else {
                out.next(queue.poll().event);
            }
        }
        if (!done && completed && queue.isEmpty() && lostAfterLast == 0) {
            done = true;
            out.complete();
        }
    }
}
