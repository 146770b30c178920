package dev.periscope.session;

import java.nio.charset.StandardCharsets;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import tools.jackson.databind.json.JsonMapper;

/**
 * A session's events as the bytes a client reads: SSE frames ({@code id:}, {@code event:} and {@code data:} lines and
 * a blank one, as Spring's own SSE writer spells them) or NDJSON lines, encoded by the application's JSON mapper.
 *
 * <p>The controller writes these bytes itself rather than through Spring's SSE and NDJSON writers because those flush
 * the connection after every event: one write to the socket, one chunk, one wake-up of the event loop per syscall,
 * which held a stream to a few thousand events a second. Given plain bytes, Reactor Netty flushes once no more are
 * waiting, so a busy stream goes out in large writes and a quiet one at once. Each event's JSON is encoded once for
 * all its subscribers ({@link EncodedEvents}).
 */
@Component
class EventFrames {

    private static final byte[] FRAME_END = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] LINE_END = "\n".getBytes(StandardCharsets.US_ASCII);

    /** Events' JSON kept for the other subscribers: a few thousand, as many as the streams of a session are apart. */
    private static final int ENCODED_KEPT = 2048;

    private final EncodedEvents encoded;

    EventFrames(JsonMapper json) {
        this.encoded = new EncodedEvents(json::writeValueAsBytes, ENCODED_KEPT);
    }

    /**
     * Each event as an SSE frame: its id (none for a stream's own drop markers), its type as the event name; in
     * buffers of {@code buffers} (the response's own: Netty's, which it writes without a conversion).
     */
    Flux<DataBuffer> sse(Flux<SessionEvent> events, DataBufferFactory buffers) {
        return events.map(event -> {
            String fields = (event.id() >= 0 ? "id:" + event.id() + "\n" : "") + "event:" + event.type().wireName()
                    + "\ndata:";
            return buffers.wrap(frame(fields.getBytes(StandardCharsets.US_ASCII), encoded.json(event), FRAME_END));
        });
    }

    /** Each event as one line of JSON. */
    Flux<DataBuffer> ndjson(Flux<SessionEvent> events, DataBufferFactory buffers) {
        return events.map(event -> buffers.wrap(frame(new byte[0], encoded.json(event), LINE_END)));
    }

    private static byte[] frame(byte[] head, byte[] body, byte[] tail) {
        byte[] frame = new byte[head.length + body.length + tail.length];
        System.arraycopy(head, 0, frame, 0, head.length);
        System.arraycopy(body, 0, frame, head.length, body.length);
        System.arraycopy(tail, 0, frame, head.length + body.length, tail.length);
        return frame;
    }
}
