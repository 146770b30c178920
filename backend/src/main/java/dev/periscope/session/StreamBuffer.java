package dev.periscope.session;

import java.util.ArrayDeque;
import java.util.Iterator;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;

/**
 * One subscriber's buffer in front of a session's events: at most {@code capacity} events wait for it. When it falls
 * behind, the oldest syscalls, process lists and process changes are dropped, counted, and a {@code dropped} marker
 * with their number ({@link SessionEvent.DropSite#STREAM}) is delivered as soon as the subscriber takes events again.
 * What the session says about itself (its state changes, notices such as a failing archive, the trace's start, the
 * drop markers of the agent and the engine) is never dropped for it, up to a hard limit of four buffers' worth that
 * only a flood of such events could reach.
 */
final class StreamBuffer {

    private static final int HARD_LIMIT = 4;

    private final FluxSink<SessionEvent> out;
    private final String session;
    private final int capacity;
    private final ArrayDeque<SessionEvent> queue = new ArrayDeque<>();
    private long lost;
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
        queue.add(e);
        if (queue.size() > capacity) {
            dropOldest();
        }
        drain();
    }

    private void dropOldest() {
        for (Iterator<SessionEvent> it = queue.iterator(); it.hasNext(); ) {
            if (droppable(it.next())) {
                it.remove();
                lost++;
                return;
            }
        }
        if (queue.size() > HARD_LIMIT * capacity) {
            queue.poll();
            lost++;
        }
    }

    private synchronized void complete() {
        completed = true;
        drain();
    }

    /** Delivers what the subscriber asked for: first a marker for what it lost, then the oldest waiting events. */
    private synchronized void drain() {
        while (!done && out.requestedFromDownstream() > 0 && (lost > 0 || !queue.isEmpty())) {
            if (lost > 0) {
                out.next(SessionEvent.dropped(session, lost, SessionEvent.DropSite.STREAM));
                lost = 0;
            } else {
                out.next(queue.poll());
            }
        }
        if (!done && completed && queue.isEmpty() && lost == 0) {
            done = true;
            out.complete();
        }
    }
}
