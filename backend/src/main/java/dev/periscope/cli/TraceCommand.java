package dev.periscope.cli;

import dev.periscope.session.SessionEnd;
import dev.periscope.session.SessionEvent;
import dev.periscope.session.SessionState;
import java.time.Duration;
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
 * trace session over REST, reads its NDJSON event stream and prints one syscall a line, as strace writes it with
 * {@code -f -tt -T} ({@code 12:00:01.000001 1234 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000021>},
 * {@code = -1 ENOENT (No such file or directory)}, {@code = ?} for exit, {@code <unfinished ...>} for a call still
 * running when the trace ended) until the session ends (its time is up, its target exits, its VM goes away), then
 * stops it; a shutdown hook stops it on Ctrl-C too. With {@code --json} each line is a JSON object with at least
 * {@code time}, {@code pid}, {@code name}, {@code syscall}, {@code args}, {@code status}, {@code returnValue},
 * {@code errno} and {@code durationNs}; everything else (what is traced, drops, the end) goes to stderr as
 * {@code #} lines. The method is M5 unless {@code --method} says otherwise.
 */
final class TraceCommand {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSSSSS");
    /** How long after its max duration a session's stream may go on before the client gives up on the server. */
    static final Duration END_GRACE = Duration.ofSeconds(60);

    private final Client client;
    private final Duration endGrace;

    TraceCommand(Client client) {
        this(client, END_GRACE);
    }

    /** With {@code endGrace} instead of {@link #END_GRACE} (tests that need no minute to see a silent server). */
    TraceCommand(Client client, Duration endGrace) {
        this.client = client;
        this.endGrace = endGrace;
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
        // the server ends the session at its max duration and sends its last events within seconds: a stream still
        // open long after that has a server behind it that lost the session, and waiting on would never end
        long maxSeconds = session.path("maxDurationSeconds").asLong();
        Duration deadline = Duration.ofSeconds(maxSeconds).plus(endGrace);
        try (Stream<String> lines = client.lines("/api/v1/sessions/" + Client.encode(id) + "/events", deadline)) {
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
        } catch (Client.StreamDeadlineException e) {
            exit = afterStalledStream(id, maxSeconds);
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

    /**
     * The stream did not end in time: the session's state as the server has it says how it ended (its last events
     * did not arrive), or it is stopped (by the caller's finally) and the trace fails.
     */
    private int afterStalledStream(String id, long maxSeconds) {
        JsonNode now = client.get("/api/v1/sessions/" + Client.encode(id));
        SessionState state = SessionState.valueOf(now.path("state").asString());
        if (state.isFinal()) {
            client.err().println("# session " + state.name().toLowerCase(Locale.ROOT) + ": "
                    + now.path("endReason").asString() + " (its event stream stalled; the state was read over REST)");
            String end = now.path("end").asString("");
            return !end.isEmpty() && SessionEnd.valueOf(end).ok() ? 0 : 1;
        }
        client.err().println("# session " + id + " did not end within " + endGrace.toSeconds()
                + " s of its max duration (" + maxSeconds + " s): stopping it");
        return 1;
    }

    /** Prints one event of the stream; returns the exit code when it was the session's final state. */
    private final class Printer {
        private final boolean json;

        Printer(boolean json) {
            this.json = json;
        }

        Integer print(JsonNode event) {
            SessionEvent.Type type;
            try {
                type = SessionEvent.Type.of(event.path("type").asString(""));
            } catch (IllegalArgumentException newerServer) {
                return null; // an event type this client does not know: not its business
            }
            SessionEvent.Payload payload = Client.json().treeToValue(event.path("data"), type.payload());
            switch (payload) {
                case SessionEvent.Syscall call -> client.out().println(json ? compact(event.path("data")) : text(call));
                case SessionEvent.TraceStarted t -> client.err().printf("# tracing pid %d (%s) with %s: %s%s%n",
                        t.pid(), t.name(), t.method(), t.methodDescription(),
                        t.syscalls().isEmpty() ? "" : "; syscalls " + String.join(",", t.syscalls()));
                case SessionEvent.ProcessChange c -> client.err().printf("# %s %d %s %s%n",
                        c.change().name().toLowerCase(Locale.ROOT), c.pid(), c.name(), c.detail());
                case SessionEvent.Dropped d -> client.err().printf("# dropped %d events (%s)%n", d.count(),
                        d.where().name().toLowerCase(Locale.ROOT).replace('_', ' '));
                case SessionEvent.Notice n -> client.err().println("# " + n.message());
                case SessionEvent.StateChange c when c.state().isFinal() -> {
                    client.err().println("# session " + c.state().name().toLowerCase(Locale.ROOT) + ": " + c.reason());
                    return c.end() != null && c.end().ok() ? 0 : 1;
                }
                case SessionEvent.StateChange c -> { }
                case SessionEvent.Processes p -> { }
            }
            return null;
        }

        /** The server's strace-like line after the local time of the call's entry. */
        private static String text(SessionEvent.Syscall call) {
            return time(call.time()) + " " + call.text();
        }

        private static String compact(JsonNode data) {
            ObjectNode copy = ((ObjectNode) data).deepCopy();
            copy.remove("text");
            return Client.json().writeValueAsString(copy);
        }

        private static String time(Instant at) {
            return at == null ? "" : LocalTime.ofInstant(at, ZoneId.systemDefault()).format(TIME);
        }
    }
}
