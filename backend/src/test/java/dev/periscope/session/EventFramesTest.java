package dev.periscope.session;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.core.ResolvableType;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.MediaType;
import org.springframework.http.codec.EncoderHttpMessageWriter;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.http.codec.ServerSentEventHttpMessageWriter;
import org.springframework.http.codec.json.JacksonJsonEncoder;
import org.springframework.mock.http.server.reactive.MockServerHttpResponse;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

/**
 * The frames the event stream writes itself are byte for byte what Spring's SSE and NDJSON writers wrote for the same
 * events (clients, the dashboard's EventSource among them, read them unchanged): every event type, with an id and
 * without (a stream's own drop marker).
 */
class EventFramesTest {

    private static final Instant AT = Instant.parse("2026-01-01T00:00:00.123456Z");
    private final JsonMapper json = JsonMapper.builder().build();
    private final EventFrames frames = new EventFrames(json);

    private static List<SessionEvent> events() {
        List<SessionEvent> events = new ArrayList<>();
        long id = 1000;
        for (SessionEvent.Payload payload : SessionEventJsonTest.oneOfEach()) {
            events.add(SessionEvent.of(id, "s-1", AT, payload));
            id += 1000;
        }
        events.add(SessionEvent.of(-1, "s-1", AT, new SessionEvent.Dropped(5, SessionEvent.DropSite.STREAM)));
        return events;
    }

    private static String text(Flux<DataBuffer> buffers) {
        return DataBufferUtils.join(buffers).map(b -> b.toString(StandardCharsets.UTF_8)).block();
    }

    @Test
    void sseFramesAreWhatSpringsWriterWrote() {
        Flux<ServerSentEvent<Object>> spring = Flux.fromIterable(events()).map(event -> {
            var sse = ServerSentEvent.builder((Object) event).event(event.type().wireName());
            return (event.id() >= 0 ? sse.id(Long.toString(event.id())) : sse).build();
        });
        MockServerHttpResponse response = new MockServerHttpResponse();
        new ServerSentEventHttpMessageWriter(new JacksonJsonEncoder(json))
                .write(spring, ResolvableType.forClass(ServerSentEvent.class), MediaType.TEXT_EVENT_STREAM, response,
                        Map.of())
                .block();

        String ours = text(frames.sse(Flux.fromIterable(events()), DefaultDataBufferFactory.sharedInstance, Schedulers.single()));

        assertThat(ours).isEqualTo(response.getBodyAsString().block());
        assertThat(ours).startsWith("id:1000\nevent:state\ndata:{\"id\":1000,").contains(
                "\n\nevent:dropped\ndata:{\"id\":-1,");
    }

    @Test
    void aBusyStreamIsWrittenInGroupsOfAtMost256Events() {
        List<SessionEvent> many = new ArrayList<>();
        for (int i = 1; i <= 600; i++) {
            many.add(SessionEvent.of(1000L * i, "s-1", AT, new SessionEvent.Notice("n" + i)));
        }
        List<DataBuffer> groups = frames.ndjson(Flux.fromIterable(many), DefaultDataBufferFactory.sharedInstance,
                        Schedulers.single())
                .collectList().block();
        assertThat(groups).hasSize(3);
        assertThat(groups).extracting(b -> b.toString(StandardCharsets.UTF_8).lines().count())
                .containsExactly(256L, 256L, 88L);
    }

    @Test
    void ndjsonLinesAreWhatSpringsEncoderWrote() {
        MockServerHttpResponse response = new MockServerHttpResponse();
        new EncoderHttpMessageWriter<>(new JacksonJsonEncoder(json))
                .write(Flux.fromIterable(events()), ResolvableType.forClass(SessionEvent.class),
                        MediaType.APPLICATION_NDJSON, response, Map.of())
                .block();

        String ours = text(frames.ndjson(Flux.fromIterable(events()), DefaultDataBufferFactory.sharedInstance, Schedulers.single()));

        assertThat(ours).isEqualTo(response.getBodyAsString().block());
        assertThat(ours.lines()).hasSize(events().size()).allMatch(line -> line.startsWith("{\"id\":"));
    }
}
