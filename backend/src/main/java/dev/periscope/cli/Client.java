package dev.periscope.cli;

import java.io.IOException;
import java.io.PrintStream;
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
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code ps VM [--json] [--mode snapshot|pause|live]} against the server at {@code PERISCOPE_URL} with the
 * token in {@code PERISCOPE_TOKEN} or the file {@code PERISCOPE_TOKEN_FILE}. Exit codes: 0 done, 1 the server
 * refused or failed, 2 bad usage.
 */
public final class Client {

    private static final String USAGE = "usage: ps VM [--json] [--mode snapshot|pause|live]";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Map<String, String> env;
    private final PrintStream out;
    private final PrintStream err;

    public Client(Map<String, String> env, PrintStream out, PrintStream err) {
        this.env = env;
        this.out = out;
        this.err = err;
    }

    public static boolean handles(String[] args) {
        return args.length > 0 && args[0].equals("ps");
    }

    public static int run(String[] args) {
        return new Client(System.getenv(), System.out, System.err).execute(List.of(args));
    }

    /** Runs one command ({@code args[0]} is its name); returns the exit code. */
    public int execute(List<String> args) {
        String vm = null;
        String mode = "snapshot";
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
        JsonNode list;
        try {
            list = get("/api/v1/vms/" + encode(vm) + "/processes?mode=" + encode(mode));
        } catch (ClientFailure failure) {
            err.println("periscope: " + failure.getMessage());
            return 1;
        }
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

    private JsonNode get(String path) {
        String base = env.getOrDefault("PERISCOPE_URL", "http://localhost:8080");
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + path))
                .header("Authorization", "Bearer " + token())
                .header("Accept", "application/json")
                .timeout(Duration.ofSeconds(60))
                .build();
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            JsonNode body = response.body().isBlank() ? null : JSON.readTree(response.body());
            if (response.statusCode() != 200) {
                String detail = body != null && body.has("detail") ? body.get("detail").asString() : response.body();
                throw new ClientFailure("the server answered " + response.statusCode() + ": " + detail);
            }
            return body;
        } catch (ConnectException refused) {
            throw new ClientFailure("no Periscope server answers at " + base + " (start one with ./periscope up)");
        } catch (IOException e) {
            throw new ClientFailure("request to " + base + " failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClientFailure("interrupted");
        }
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

    private int usage(String problem) {
        err.println("periscope: " + problem + "\n" + USAGE);
        return 2;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    private static final class ClientFailure extends RuntimeException {
        ClientFailure(String message) {
            super(message);
        }
    }
}
