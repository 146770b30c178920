package dev.periscope.cli;

import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code trace VM (--pid N | --process NAME) [--method M1..M5] [--syscalls a,b] [--seconds S] [--json]}: opens a
 * trace session over REST, reads its NDJSON event stream and prints one syscall a line until the session ends
 * (its time is up, its target exits, its VM goes away), then stops it; a shutdown hook stops it on Ctrl-C too.
 * With {@code --json} each line is a JSON object with at least {@code time}, {@code pid}, {@code name},
 * {@code syscall} and {@code args}; everything else (what is traced, drops, the end) goes to stderr as
 * {@code #} lines. The method is M5 unless {@code --method} says otherwise.
 */
final class TraceCommand {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSSSSS");

    private final Client client;

    TraceCommand(Client client) {
        this.client = client;
    }

    int run(List<String> args) {
        String vm = null;
        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("kind", "TRACE");
        spec.put("method", "M5"); // the server's default is M1, which traps nothing
        boolean json = false;
        for (int i = 1; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--json")) {
                json = true;
                continue;
            }
            if (List.of("--pid", "--process", "--method", "--syscalls", "--seconds").contains(a)) {
                if (++i == args.size()) {
                    return client.usage(a + " needs a value");
                }
                String v = args.get(i);
                switch (a) {
                    case "--pid", "--seconds" -> {
                        int n;
                        try {
                            n = Integer.parseInt(v);
                        } catch (NumberFormatException e) {
                            return client.usage(a + " needs a number, not '" + v + "'");
                        }
                        spec.put(a.equals("--pid") ? "targetPid" : "maxDurationSeconds", n);
                    }
                    case "--process" -> spec.put("targetProcess", v);
                    case "--method" -> spec.put("method", v.toUpperCase(Locale.ROOT));
                    default -> spec.put("syscalls", Arrays.stream(v.split(",")).map(String::strip)
                            .filter(s -> !s.isEmpty()).toList());
                }
                continue;
            }
            if (a.startsWith("-") || vm != null) {
                return client.usage("unexpected argument '" + a + "'");
            }
            vm = a;
        }
        if (vm == null) {
            return client.usage("name a VM");
        }
        if (spec.containsKey("targetPid") == spec.containsKey("targetProcess")) {
            return client.usage("name the traced process with either --pid or --process");
        }
        spec.put("vm", vm);

        JsonNode session = client.post("/api/v1/sessions", spec);
        String id = session.get("id").asString();
        AtomicBoolean stopped = new AtomicBoolean();
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                try {
                    client.post("/api/v1/sessions/" + Client.encode(id) + "/stop", null);
                } catch (RuntimeException e) {
                    client.err().println("# could not stop session " + id + ": " + e.getMessage());
                }
            }
        };
        Thread hook = new Thread(stop, "periscope-trace-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        int exit = 1;
        try (Stream<String> lines = client.lines("/api/v1/sessions/" + Client.encode(id) + "/events")) {
            Printer printer = new Printer(json);
            for (var it = lines.iterator(); it.hasNext(); ) {
                String line = it.next();
                if (line.isBlank()) {
                    continue;
                }
                Integer end = printer.print(Client.json().readTree(line));
                if (end != null) {
                    exit = end;
                    break;
                }
            }
        } finally {
            stop.run();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs (or ran) anyway
            }
        }
        return exit;
    }

    /** Prints one event of the stream; returns the exit code when it was the session's final state. */
    private final class Printer {
        private final boolean json;

        Printer(boolean json) {
            this.json = json;
        }

        Integer print(JsonNode event) {
            String type = event.path("type").asString("");
            JsonNode data = event.path("data");
            switch (type) {
                case "syscall" -> client.out().println(json ? compact(data) : text(data));
                case "trace" -> client.err().printf("# tracing pid %d (%s) with %s: %s%s%n", data.path("pid").asInt(),
                        data.path("name").asString(""), data.path("method").asString(""),
                        data.path("methodDescription").asString(""),
                        data.path("syscalls").isEmpty() ? "" : "; syscalls " + join(data.path("syscalls")));
                case "process" -> client.err().printf("# %s %d %s %s%n", data.path("change").asString(""),
                        data.path("pid").asInt(), data.path("name").asString(""), data.path("detail").asString(""));
                case "dropped" -> client.err().printf("# dropped %d events%s%n", data.path("count").asLong(),
                        data.has("where") ? " (" + data.path("where").asString() + ")" : "");
                case "notice" -> client.err().println("# " + data.asString(data.toString()));
                case "state" -> {
                    String state = data.path("state").asString("");
                    String reason = data.path("reason").asString("");
                    if (state.equals("ENDED") || state.equals("LOST")) {
                        client.err().println("# session " + state.toLowerCase(Locale.ROOT) + ": " + reason);
                        return state.equals("ENDED") && !reason.startsWith("failed") ? 0 : 1;
                    }
                }
                default -> { }
            }
            return null;
        }

        private String text(JsonNode d) {
            StringBuilder b = new StringBuilder().append(time(d.path("time").asString("")))
                    .append(' ').append(d.path("pid").asInt()).append(' ').append(d.path("name").asString(""))
                    .append(' ').append(d.path("syscall").asString("")).append('(');
            int i = 0;
            for (JsonNode arg : d.path("args")) {
                b.append(i++ == 0 ? "" : ", ").append(arg(arg));
            }
            return b.append(')').toString();
        }

        private static String arg(JsonNode arg) {
            JsonNode text = arg.path("text");
            if (!text.isMissingNode() && !text.isNull()) {
                return text.asString();
            }
            long v = arg.path("value").asLong();
            return v >= -4096 && v < 65536 ? Long.toString(v) : "0x" + Long.toHexString(v);
        }

        private static String compact(JsonNode data) {
            ObjectNode copy = ((ObjectNode) data).deepCopy();
            copy.remove("text");
            return Client.json().writeValueAsString(copy);
        }

        private static String join(JsonNode names) {
            StringBuilder b = new StringBuilder();
            for (JsonNode n : names) {
                b.append(b.isEmpty() ? "" : ",").append(n.asString());
            }
            return b.toString();
        }

        private static String time(String iso) {
            try {
                return LocalTime.ofInstant(Instant.parse(iso), ZoneId.systemDefault()).format(TIME);
            } catch (RuntimeException e) {
                return iso;
            }
        }
    }
}
