package dev.periscope.bench.faults;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.MissingNode;

/**
 * A client following a session's events over SSE as a browser does (resuming with {@code Last-Event-ID}), or as NDJSON
 * as the command-line client does: it counts the syscalls that arrive, adds up the drop markers by where the events
 * were lost, keeps the notices and the last state change, and notes when the server ended the stream.
 */
final class SseClient implements AutoCloseable {

    private final boolean ndjson;
    private final AtomicLong syscalls = new AtomicLong();
    private final Map<String, Long> dropped = new TreeMap<>(); // guarded by itself
    private final List<String> notices = new CopyOnWriteArrayList<>();
    private final CountDownLatch ended = new CountDownLatch(1);
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private volatile JsonNode state = MissingNode.getInstance();
    private volatile long lastId;
    private volatile int status;
    private volatile String failure = "";
    private volatile InputStream body;
    private volatile boolean closing;

    private SseClient(long lastId, boolean ndjson) {
        this.lastId = lastId;
        this.ndjson = ndjson;
    }

    /** Follows session {@code id} from after event {@code lastEventId} (0: from the start). */
    static SseClient follow(Api api, String id, long lastEventId) {
        return follow(api, id, lastEventId, false);
    }

    /** Follows session {@code id} from the start as NDJSON, one event a line, as the command-line client reads it. */
    static SseClient followNdjson(Api api, String id) {
        return follow(api, id, 0, true);
    }

    private static SseClient follow(Api api, String id, long lastEventId, boolean ndjson) {
        SseClient client = new SseClient(lastEventId, ndjson);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api.base() + "/api/v1/sessions/" + id
                + "/events")).header("Authorization", "Bearer " + api.token())
                .header("Accept", ndjson ? "application/x-ndjson" : "text/event-stream");
        if (lastEventId > 0) {
            request.header("Last-Event-ID", Long.toString(lastEventId));
        }
        Thread.ofPlatform().daemon().name("sse-" + id).start(() -> client.read(request.GET().build()));
        return client;
    }

    private void read(HttpRequest request) {
        try {
            HttpResponse<InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
            status = r.statusCode();
            body = r.body();
            if (closing) {
                body.close();
            }
            try (BufferedReader in = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8), 1 << 16)) {
                String type = "";
                for (String line; (line = in.readLine()) != null; ) {
                    if (ndjson) {
                        if (!line.isBlank()) {
                            JsonNode e = Api.JSON.readTree(line);
                            lastId = Math.max(lastId, e.path("id").asLong(0));
                            event(e.path("type").asString(""), line);
                        }
                    } else if (line.startsWith("event:")) {
                        type = line.substring(6).strip();
                    } else if (line.startsWith("id:")) {
                        lastId = Long.parseLong(line.substring(3).strip());
                    } else if (line.startsWith("data:")) {
                        event(type, line.substring(5).strip());
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            failure = closing ? "" : e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            ended.countDown();
        }
    }

    private void event(String type, String data) {
        switch (type) {
            case "syscall" -> syscalls.incrementAndGet();
            case "dropped" -> {
                JsonNode d = Api.JSON.readTree(data).path("data");
                synchronized (dropped) {
                    dropped.merge(d.path("where").asString("?"), d.path("count").asLong(0), Long::sum);
                }
            }
            case "notice" -> notices.add(Api.JSON.readTree(data).path("data").path("message").asString(""));
            case "state" -> state = Api.JSON.readTree(data).path("data");
            default -> { }
        }
    }

    long syscalls() {
        return syscalls.get();
    }

    /** Events lost before they reached this client, by where, as its drop markers said. */
    Map<String, Long> dropped() {
        synchronized (dropped) {
            return Map.copyOf(dropped);
        }
    }

    long droppedTotal() {
        return dropped().values().stream().mapToLong(Long::longValue).sum();
    }

    List<String> notices() {
        return List.copyOf(notices);
    }

    /** The last state change's data: {@code state}, {@code end}, {@code reason}. */
    JsonNode state() {
        return state;
    }

    long lastId() {
        return lastId;
    }

    int status() {
        return status;
    }

    /** Why the stream broke off, "" when the server ended it (or this client closed it). */
    String failure() {
        return failure;
    }

    boolean awaitSyscalls(long atLeast, Duration limit) {
        return Api.await(limit, this::syscalls, n -> n >= atLeast || ended.getCount() == 0) && syscalls() >= atLeast;
    }

    /** Waits for the server to end the stream; false when it still runs after {@code limit}. */
    boolean awaitEnd(Duration limit) {
        try {
            return ended.await(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    boolean ended() {
        return ended.getCount() == 0;
    }

    @Override
    public void close() {
        closing = true;
        InputStream in = body;
        if (in != null) {
            try {
                in.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        http.shutdownNow();
    }
}
