package dev.periscope.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The command-line client, against the server at {@code PERISCOPE_URL} with the token in {@code PERISCOPE_TOKEN}
 * or the file {@code PERISCOPE_TOKEN_FILE}:
 * <ul>
 *   <li>{@code ps VM [--json] [--mode snapshot|pause|live]}: the process list, taken with the most consistent mode
 *       the VM's platform offers unless {@code --mode} says otherwise (the server decides, as for the VM page);</li>
 *   <li>{@code trace VM (--pid N | --process NAME) [--method M1..M5] [--syscalls read,write,...] [--seconds S]
 *       [--json]}: opens a trace session, prints its syscalls as they come, strace-like (one a line: time, pid,
 *       {@code call(args) = result <duration>}; NDJSON with {@code --json}) and stops the session at the end, also on
 *       Ctrl-C.</li>
 * </ul>
 * Exit codes: 0 done, 1 the server refused or failed (or the traced VM went away), 2 bad usage.
 */
public final class Client {

    private static final String USAGE = """
            usage: ps VM [--json] [--mode snapshot|pause|live]
                   trace VM (--pid N | --process NAME) [--method M1|M2|M3|M4|M5] [--syscalls read,write,...] \
            [--seconds S] [--json]""";
    private static final Set<String> COMMANDS = Set.of("ps", "trace");
    /** A newer server may add fields: this client reads what it knows. */
    private static final JsonMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    private final Map<String, String> env;
    private final PrintStream out;
    private final PrintStream err;

    public Client(Map<String, String> env, PrintStream out, PrintStream err) {
        this.env = env;
        this.out = out;
        this.err = err;
    }

    public static boolean handles(String[] args) {
        return args.length > 0 && COMMANDS.contains(args[0]);
    }

    public static int run(String[] args) {
        return new Client(System.getenv(), System.out, System.err).execute(List.of(args));
    }

    /** Runs one command ({@code args[0]} is its name); returns the exit code. */
    public int execute(List<String> args) {
        if (args.isEmpty()) {
            return usage("name a command");
        }
        try {
            return switch (args.getFirst()) {
                case "ps" -> ps(args);
                case "trace" -> new TraceCommand(this).run(args);
                default -> usage("unknown command '" + args.getFirst() + "'");
            };
        } catch (ClientFailure failure) {
            err.println("periscope: " + failure.getMessage());
            return 1;
        }
    }

    private int ps(List<String> args) {
        String vm = null;
        String mode = null; // the server picks the most consistent mode the VM's platform offers
        boolean json = false;
        for (int i = 1; i < args.size(); i++) {
            switch (args.get(i)) {
                case "--json" -> json = true;
                case "--mode" -> {
                    if (++i == args.size()) {
                        return usage("--mode needs a value");
                    }
                    mode = args.get(i);
                }
                default -> {
                    if (args.get(i).startsWith("-") || vm != null) {
                        return usage("unexpected argument '" + args.get(i) + "'");
                    }
                    vm = args.get(i);
                }
            }
        }
        if (vm == null) {
            return usage("name a VM");
        }
        JsonNode list = get("/api/v1/vms/" + encode(vm) + "/processes" + (mode == null ? "" : "?mode=" + encode(mode)));
        if (json) {
            out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(list.get("processes")));
        } else {
            printTable(list);
        }
        return 0;
    }

    private void printTable(JsonNode list) {
        out.printf("# %s  kernel %s  mode %s%s  guest downtime %.3f ms  snapshot age %.1f ms  read %.3f ms%n",
                list.get("vm").asString(), list.get("kernelVersion").asString(), list.get("mode").asString(),
                list.get("consistent").asBoolean() ? "" : " (racy)",
                list.get("guestDowntimeMicros").asLong() / 1000.0, list.get("snapshotAgeMicros").asLong() / 1000.0,
                list.get("readMicros").asLong() / 1000.0);
        out.printf("%7s %7s %6s %-5s %-16s %s%n", "PID", "PPID", "UID", "STATE", "NAME", "ARGV");
        for (JsonNode process : list.get("processes")) {
            out.printf("%7d %7d %6d %-5s %-16s %s%n", process.get("pid").asInt(), process.get("ppid").asInt(),
                    process.get("uid").asInt(), process.get("state").asString(), process.get("name").asString(),
                    process.get("cmdline").asString());
        }
        for (JsonNode warning : list.get("warnings")) {
            out.println("# warning: " + warning.asString());
        }
    }

    JsonNode get(String path) {
        return send(request(path).header("Accept", "application/json").GET());
    }

    /** POSTs {@code body} (null: none) as JSON; any 2xx is success. */
    JsonNode post(String path, Object body) {
        HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body));
        return send(request(path).header("Accept", "application/json").header("Content-Type", "application/json")
                .POST(publisher));
    }

    /**
     * The lines of a streamed response (NDJSON), read as they arrive, until {@code deadline} has passed: then the
     * connection is cut and reading fails with {@link StreamDeadlineException}. Close the stream to stop reading.
     */
    Stream<String> lines(String path, Duration deadline) {
        HttpRequest request = HttpRequest.newBuilder(uri(path)).header("Authorization", "Bearer " + token())
                .header("Accept", "application/x-ndjson").GET().build();
        // HTTP/1.1 from the start: the server streams over it, and an h2c upgrade offer gains a stream nothing
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        AtomicBoolean overdue = new AtomicBoolean();
        // a server that goes silent must not keep the client waiting for ever: cutting the connection ends the read
        Thread cutter = Thread.ofVirtual().name("periscope-stream-deadline").start(() -> {
            try {
                Thread.sleep(deadline);
                overdue.set(true);
                http.shutdownNow();
            } catch (InterruptedException closed) {
                // the stream was closed in time
            }
        });
        Runnable release = () -> {
            cutter.interrupt();
            http.close();
        };
        try {
            HttpResponse<Stream<String>> response = http.send(request, HttpResponse.BodyHandlers.ofLines());
            if (response.statusCode() != 200) {
                String text = response.body().collect(Collectors.joining("\n"));
                release.run();
                throw new ClientFailure("the server answered " + response.statusCode() + ": " + detail(text));
            }
            Stream<String> body = response.body();
            Iterator<String> lines = body.iterator();
            Iterator<String> bounded = new Iterator<>() {
                @Override
                public boolean hasNext() {
                    try {
                        return lines.hasNext();
                    } catch (UncheckedIOException e) {
                        throw overdue.get() ? new StreamDeadlineException(deadline) : e;
                    }
                }

                @Override
                public String next() {
                    hasNext();
                    return lines.next();
                }
            };
            return StreamSupport.stream(Spliterators.spliteratorUnknownSize(bounded, Spliterator.ORDERED), false)
                    .onClose(body::close)
                    .onClose(release);
        } catch (IOException e) {
            release.run();
            if (overdue.get()) {
                throw new StreamDeadlineException(deadline);
            }
            throw failure(e);
        } catch (InterruptedException e) {
            release.run();
            Thread.currentThread().interrupt();
            throw new ClientFailure("interrupted");
        }
    }

    private HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(uri(path)).header("Authorization", "Bearer " + token())
                .timeout(Duration.ofSeconds(60));
    }

    private URI uri(String path) {
        return URI.create(base() + path);
    }

    private String base() {
        return env.getOrDefault("PERISCOPE_URL", "http://localhost:8080");
    }

    private JsonNode send(HttpRequest.Builder builder) {
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() / 100 != 2) {
                throw new ClientFailure("the server answered " + response.statusCode() + ": " + detail(response.body()));
            }
            return response.body().isBlank() ? null : JSON.readTree(response.body());
        } catch (IOException e) {
            throw failure(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClientFailure("interrupted");
        }
    }

    private static String detail(String body) {
        try {
            JsonNode problem = body.isBlank() ? null : JSON.readTree(body);
            return problem != null && problem.has("detail") ? problem.get("detail").asString() : body;
        } catch (RuntimeException notJson) {
            return body;
        }
    }

    private ClientFailure failure(IOException e) {
        return e instanceof ConnectException
                ? new ClientFailure("no Periscope server answers at " + base() + " (start one with ./periscope up)")
                : new ClientFailure("request to " + base() + " failed: " + e.getMessage());
    }

    static JsonMapper json() {
        return JSON;
    }

    PrintStream out() {
        return out;
    }

    PrintStream err() {
        return err;
    }

    private String token() {
        String token = env.get("PERISCOPE_TOKEN");
        if (token != null && !token.isBlank()) {
            return token.strip();
        }
        String file = env.get("PERISCOPE_TOKEN_FILE");
        if (file == null) {
            throw new ClientFailure("set PERISCOPE_TOKEN or PERISCOPE_TOKEN_FILE to an API token");
        }
        try {
            return Files.readString(Path.of(file)).strip();
        } catch (IOException e) {
            throw new ClientFailure("cannot read the API token from " + file + " (has the server run once?)");
        }
    }

    int usage(String problem) {
        err.println("periscope: " + problem + "\n" + USAGE);
        return 2;
    }

    static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    static class ClientFailure extends RuntimeException {
        ClientFailure(String message) {
            super(message);
        }
    }

    /** A stream the server did not end within its deadline; the connection was cut. */
    static final class StreamDeadlineException extends ClientFailure {
        StreamDeadlineException(Duration deadline) {
            super("the server did not end the stream within " + deadline.toSeconds() + " s");
        }
    }
}
