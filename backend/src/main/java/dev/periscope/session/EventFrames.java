package dev.periscope.session;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;
import tools.jackson.databind.json.JsonMapper;

/**
 * A session's events as the bytes a client reads: SSE frames ({@code id:}, {@code event:} and {@code data:} lines and
 * a blank one, as Spring's own SSE writer spells them) or NDJSON lines, encoded by the application's JSON mapper, in
 * groups that the controller writes and flushes one at a time.
 *
 * <p>Spring's SSE and NDJSON writers flush the connection after every event: one write to the socket, one HTTP chunk
 * and one wake-up of the event loop per syscall, which held a stream to a few thousand events a second. Here a group
 * holds what came within {@link #GROUP_WAIT} of its first event, at most {@link #GROUP_EVENTS}: a busy stream goes
 * out in large writes, a quiet one at most 5 ms late. Each group is flushed when written, so a slow client holds up
 * only its own stream (its buffer drops, and counts, what it cannot take). Each event's JSON is encoded once for all
 * its subscribers ({@link EncodedEvents}).
 */
@Component
class EventFrames {

    static final int GROUP_EVENTS = 256;
    static final Duration GROUP_WAIT = Duration.ofMillis(5);
    private static final byte[] FRAME_END = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] LINE_END = "\n".getBytes(StandardCharsets.US_ASCII);

    /** Events' JSON kept for the other subscribers: a few thousand, as many as the streams of a session are apart. */
    private static final int ENCODED_KEPT = 2048;

    private final EncodedEvents encoded;

    EventFrames(JsonMapper json) {
        this.encoded = new EncodedEvents(json::writeValueAsBytes, ENCODED_KEPT);
    }

    /**
     * Groups of SSE frames, each event with its id (none for a stream's own drop markers) and its type as the event
     * name, in buffers of {@code buffers} (the response's own).
     */
    Flux<DataBuffer> sse(Flux<SessionEvent> events, DataBufferFactory buffers, Scheduler delivery) {
        return grouped(events, buffers, delivery, event -> {
            String fields = (event.id() >= 0 ? "id:" + event.id() + "\n" : "") + "event:" + event.type().wireName()
                    + "\ndata:";
            return List.of(fields.getBytes(StandardCharsets.US_ASCII), encoded.json(event), FRAME_END);
        });
    }

    /** Groups of NDJSON lines, one event a line. */
    Flux<DataBuffer> ndjson(Flux<SessionEvent> events, DataBufferFactory buffers, Scheduler delivery) {
        return grouped(events, buffers, delivery, event -> List.of(encoded.json(event), LINE_END));
    }

    /**
     * The events' frames (each made of {@code parts}), grouped, each group in one buffer; a group that waited its time
     * is closed on {@code delivery}, the streams' own scheduler, not on the one the sessions' runners share.
     */
    private static Flux<DataBuffer> grouped(Flux<SessionEvent> events, DataBufferFactory buffers, Scheduler delivery,
                                            Function<SessionEvent, List<byte[]>> parts) {
        return events.map(parts)
                .bufferTimeout(GROUP_EVENTS, GROUP_WAIT, delivery, true)
                .map(group -> {
                    ByteArrayOutputStream bytes = new ByteArrayOutputStream(group.size() * 512);
                    group.forEach(frame -> frame.forEach(bytes::writeBytes));
                    return buffers.wrap(bytes.toByteArray());
                });
    }
}
