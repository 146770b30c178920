package dev.periscope.security;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import tools.jackson.databind.json.JsonMapper;

/**
 * The JDK's HTTP client, as any tool calls the server: it logs nothing through the server's logging, so that a scan of
 * the log sees only what the server wrote. Streamed responses are read for their first lines only.
 */
final class Http {

    static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpClient client;
    private final String base;

    Http(String base) {
        this(base, HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .build());
    }

    Http(String base, HttpClient client) {
        this.base = base;
        this.client = client;
    }

    /** A response: status, headers, and the body (or, for a stream, its first lines). */
    record Response(int status, Map<String, List<String>> headers, String body) {

        Optional<String> header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                    .flatMap(e -> e.getValue().stream()).findFirst();
        }

        List<String> all(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                    .flatMap(e -> e.getValue().stream()).toList();
        }

        /** The value of cookie {@code name} this response sets, if it sets one. */
        Optional<String> cookie(String name) {
            return all("set-cookie").stream().filter(c -> c.startsWith(name + "="))
                    .map(c -> c.substring(name.length() + 1, c.indexOf(';') < 0 ? c.length() : c.indexOf(';')))
                    .findFirst();
        }

        Map<String, Object> json() {
            return Http.json(body);
        }

        List<Map<String, Object>> jsonList() {
            return Http.jsonList(body);
        }
    }

    /** A request being built: headers and an optional body. */
    final class Call {
        private final HttpRequest.Builder builder;
        private final String method;
        private HttpRequest.BodyPublisher body = HttpRequest.BodyPublishers.noBody();
        private int streamLines;

        private Call(String method, String path) {
            this.method = method;
            this.builder = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
        }

        Call header(String name, String value) {
            builder.header(name, value);
            return this;
        }

        Call bearer(String token) {
            return token == null ? this : header("Authorization", "Bearer " + token);
        }

        Call cookie(String session) {
            return header("Cookie", "SESSION=" + session);
        }

        Call json(Object value) {
            header("Content-Type", "application/json");
            body = HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(value));
            return this;
        }

        Call form(String encoded) {
            header("Content-Type", "application/x-www-form-urlencoded");
            body = HttpRequest.BodyPublishers.ofString(encoded);
            return this;
        }

        /** Reads no more than {@code lines} lines of a successful response (a stream that does not end by itself). */
        Call stream(int lines) {
            this.streamLines = lines;
            return this;
        }

        Response send() {
            HttpRequest request = builder.method(method, body).build();
            try {
                if (streamLines > 0) {
                    HttpResponse<Stream<String>> response = client.send(request, HttpResponse.BodyHandlers.ofLines());
                    return new Response(response.statusCode(), response.headers().map(),
                            firstLines(response.body(), response.statusCode() / 100 == 2 ? streamLines : 10_000));
                }
                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                return new Response(response.statusCode(), response.headers().map(), response.body());
            } catch (IOException e) {
                throw new UncheckedIOException(method + " " + request.uri(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    Call call(String method, String path) {
        return new Call(method, path);
    }

    Call get(String path) {
        return call("GET", path);
    }

    Call post(String path) {
        return call("POST", path);
    }

    /** Up to {@code max} lines, waiting at most 15 s for them; then the stream is closed (the request cancelled). */
    private static String firstLines(Stream<String> lines, int max) {
        Iterator<String> it = lines.iterator();
        List<String> out = new ArrayList<>();
        CompletableFuture<Void> reading = CompletableFuture.runAsync(() -> {
            while (out.size() < max && it.hasNext()) {
                synchronized (out) {
                    out.add(it.next());
                }
            }
        });
        try {
            reading.get(15, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            // a stream quieter than asked: what came so far
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lines.close();
        }
        synchronized (out) {
            return String.join("\n", out);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(String body) {
        return JSON.readValue(body, Map.class);
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> jsonList(String body) {
        return JSON.readValue(body, List.class);
    }
}
