package dev.periscope.bench.faults;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.function.Predicate;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.MissingNode;

/** The control plane's REST API as a user sees it: bearer token, JSON, RFC 9457 problems, and what failed on the way. */
final class Api {

    static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final String base;
    private final String token;

    Api(String base, String token) {
        this.base = base;
        this.token = token;
    }

    String base() {
        return base;
    }

    String token() {
        return token;
    }

    /**
     * An answer: the status and body, or status -1 with the transport's failure (refused, reset, no answer in time).
     */
    record Reply(int status, JsonNode body, String text) {
        String title() {
            return body.path("title").asString("");
        }

        String detail() {
            return body.path("detail").asString("");
        }

        String field(String name) {
            return body.path(name).asString("");
        }

        /** "409 VM not running", "200", or "no answer: ..." for people and for counting alike outcomes. */
        String summary() {
            if (status < 0) {
                return "no answer (" + text + ")";
            }
            return status + (title().isEmpty() ? "" : " " + title());
        }
    }

    Reply get(String path) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), TIMEOUT);
    }

    Reply get(String path, Duration timeout) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), timeout);
    }

    Reply post(String path, String json) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)), TIMEOUT);
    }

    Reply post(String path, String json, Duration timeout) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)), timeout);
    }

    private Reply send(HttpRequest.Builder request, Duration timeout) {
        try {
            HttpResponse<String> r = http.send(request.header("Authorization", "Bearer " + token)
                    .header("Accept", "application/json").timeout(timeout).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode body;
            try {
                body = r.body().isBlank() ? MissingNode.getInstance() : JSON.readTree(r.body());
            } catch (RuntimeException notJson) {
                body = MissingNode.getInstance();
            }
            return new Reply(r.statusCode(), body, r.body());
        } catch (HttpTimeoutException e) {
            return new Reply(-1, MissingNode.getInstance(), "none within " + timeout.toSeconds() + " s");
        } catch (IOException e) {
            return new Reply(-1, MissingNode.getInstance(), e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Reply(-1, MissingNode.getInstance(), "interrupted");
        }
    }

    /** Opens a session; its id. */
    String open(String json) {
        Reply r = post("/api/v1/sessions", json);
        if (r.status() != 201) {
            throw new IllegalStateException("opening a session: " + r.status() + " " + r.text());
        }
        return r.field("id");
    }

    /** A trace of {@code target} (a pid, or a process name) on {@code vm} with {@code method}, long enough. */
    String trace(String vm, Object target, String method) {
        return trace(vm, target, method, 3600);
    }

    /** A trace as {@link #trace(String, Object, String)} that ends after {@code maxDurationSeconds}. */
    String trace(String vm, Object target, String method, int maxDurationSeconds) {
        String who = target instanceof Integer pid ? "\"targetPid\":" + pid : "\"targetProcess\":\"" + target + "\"";
        return open("{\"vm\":\"" + vm + "\",\"kind\":\"TRACE\"," + who + ",\"method\":\"" + method
                + "\",\"maxDurationSeconds\":" + maxDurationSeconds + ",\"maxEvents\":100000000}");
    }

    JsonNode session(String id) {
        Reply r = get("/api/v1/sessions/" + id);
        return r.status() == 200 ? r.body() : MissingNode.getInstance();
    }

    Reply stop(String id) {
        return post("/api/v1/sessions/" + id + "/stop", "");
    }

    /** The VM {@code id} as the API lists it, or a missing node. */
    JsonNode vm(String id) {
        Reply r = get("/api/v1/vms");
        if (r.status() != 200) {
            return MissingNode.getInstance();
        }
        for (JsonNode vm : r.body()) {
            if (id.equals(vm.path("id").asString(""))) {
                return vm;
            }
        }
        return MissingNode.getInstance();
    }

    /**
     * Waits until {@code done} holds of the count {@code progress} returns, or the count stopped moving for
     * {@code quiet}, or {@code limit} passed; whether {@code done} holds.
     */
    static boolean awaitSettled(Duration limit, Duration quiet, java.util.function.LongSupplier progress,
                                java.util.function.LongPredicate done) {
        long deadline = System.nanoTime() + limit.toNanos();
        long last = progress.getAsLong();
        long movedAt = System.nanoTime();
        while (!done.test(last) && System.nanoTime() < deadline && System.nanoTime() - movedAt < quiet.toNanos()) {
            Commands.sleep(Duration.ofMillis(200));
            long now = progress.getAsLong();
            if (now != last) {
                last = now;
                movedAt = System.nanoTime();
            }
        }
        return done.test(progress.getAsLong());
    }

    /** Waits until {@code condition} holds of what {@code call} returns; false when {@code limit} passed first. */
    static <T> boolean await(Duration limit, java.util.function.Supplier<T> call, Predicate<T> condition) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            if (condition.test(call.get())) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            Commands.sleep(Duration.ofMillis(200));
        }
    }
}
