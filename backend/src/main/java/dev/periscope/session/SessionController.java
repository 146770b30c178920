package dev.periscope.session;

import dev.periscope.caller.Caller;
import dev.periscope.overhead.Overhead;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Size;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.validation.annotation.Validated;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code /api/v1/sessions}: open (idempotent with {@code Idempotency-Key}: the same key and body give the same
 * session, the same key with another body a 422), list, get, stop, and the event stream as SSE (ids, resumable
 * with {@code Last-Event-ID}) or NDJSON.
 */
@RestController
@Validated
class SessionController {

    /** What Spring's SSE writer declared: the frames are UTF-8, as EventSource reads them anyway. */
    private static final MediaType EVENT_STREAM_UTF8 = new MediaType(MediaType.TEXT_EVENT_STREAM,
            StandardCharsets.UTF_8);

    private final Sessions sessions;
    private final SessionStore store;
    private final Overhead overhead;
    private final EventFrames frames;

    SessionController(Sessions sessions, SessionStore store, Overhead overhead, EventFrames frames) {
        this.sessions = sessions;
        this.store = store;
        this.overhead = overhead;
        this.frames = frames;
    }

    @PostMapping("/api/v1/sessions")
    @ApiResponse(responseCode = "201", description = "a new session")
    @ApiResponse(responseCode = "200", description = "the session this Idempotency-Key opened before")
    Mono<ResponseEntity<Session>> open(Caller caller, @Valid @RequestBody SessionSpec spec,
                                       @RequestHeader(name = "Idempotency-Key", required = false)
                                       @Size(min = 1, max = 200) String idempotencyKey) {
        return sessions.open(caller, spec, idempotencyKey, null)
                .map(opened -> ResponseEntity.status(opened.replayed() ? HttpStatus.OK : HttpStatus.CREATED)
                        .body(opened.session()));
    }

    @GetMapping("/api/v1/sessions")
    Flux<Session> list(Caller caller, @RequestParam(required = false) String state) {
        return store.list(caller, state == null ? null : parseState(state));
    }

    @GetMapping("/api/v1/sessions/{id}")
    Mono<Session> get(Caller caller, @PathVariable String id) {
        return store.find(caller, id).switchIfEmpty(Sessions.notFound(id));
    }

    @PostMapping("/api/v1/sessions/{id}/stop")
    Mono<Session> stop(Caller caller, @PathVariable String id) {
        return sessions.stop(caller, id);
    }

    @GetMapping(path = "/api/v1/sessions/{id}/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    @ApiResponse(responseCode = "200", description = "the session's events, each an SSE frame: its id, its type as "
            + "the event name, the event as data", content = @Content(mediaType = MediaType.TEXT_EVENT_STREAM_VALUE,
            schema = @Schema(implementation = SessionEvent.class)))
    Mono<Void> sse(Caller caller, @PathVariable String id,
                   @RequestHeader(name = "Last-Event-ID", required = false) String lastEventId,
                   ServerHttpResponse response) {
        response.getHeaders().setContentType(EVENT_STREAM_UTF8);
        return writeAndFlushEach(response, frames.sse(sessions.events(caller, id, parseId(lastEventId)),
                response.bufferFactory(), sessions.streamDelivery()));
    }

    @GetMapping(path = "/api/v1/sessions/{id}/events", produces = MediaType.APPLICATION_NDJSON_VALUE)
    @ApiResponse(responseCode = "200", description = "the session's events, one JSON object a line",
            content = @Content(mediaType = MediaType.APPLICATION_NDJSON_VALUE,
                    schema = @Schema(implementation = SessionEvent.class)))
    Mono<Void> ndjson(Caller caller, @PathVariable String id,
                      @RequestParam(name = "after", required = false) String after,
                      ServerHttpResponse response) {
        response.getHeaders().setContentType(MediaType.APPLICATION_NDJSON);
        return writeAndFlushEach(response, frames.ndjson(sessions.events(caller, id, parseId(after)),
                response.bufferFactory(), sessions.streamDelivery()));
    }

    /**
     * Writes each group of frames and flushes it. A failure before the first (no such session, another tenant's) is
     * still an error response: nothing is committed until the first group.
     */
    private static Mono<Void> writeAndFlushEach(ServerHttpResponse response, Flux<DataBuffer> groups) {
        return response.writeAndFlushWith(groups.map(Mono::just));
    }

    @GetMapping("/api/v1/sessions/{id}/overhead")
    Flux<Overhead.Summary> overhead(Caller caller, @PathVariable String id) {
        return store.find(caller, id).switchIfEmpty(Sessions.notFound(id)).flatMapMany(s -> overhead.forSession(id));
    }

    private static long parseId(String id) {
        if (id == null || id.isBlank()) {
            return 0;
        }
        try {
            return Long.parseLong(id.strip());
        } catch (NumberFormatException e) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "event id must be a number, not '" + id + "'");
        }
    }

    private static SessionState parseState(String state) {
        try {
            return SessionState.valueOf(state.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "state must be one of pending, active, stopping, "
                    + "ended, lost, not '" + state + "'");
        }
    }
}
