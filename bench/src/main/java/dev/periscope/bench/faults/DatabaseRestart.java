package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;

/**
 * The database restarted under a running trace: a control plane on PostgreSQL (the {@code postgres} profile, the
 * image the tests build from a local Debian base, in Docker) follows a 2,000 syscalls/s trace of the fake agent while
 * the container is restarted. Expected: the SSE stream goes on through the outage; the API answers a clear 503 while
 * the database is away and works again once it is back, without a restart; the session stops normally afterwards;
 * the syscalls the archive could not take are counted ({@code archive_dropped}) and equal the rows missing from it.
 */
final class DatabaseRestart implements Fault {

    static final String IMAGE = "periscope/postgres:15";
    private static final String VM = "flt-db";
    private static final long RATE = 2000;
    /** The archive's longest tail: its whole queue (8,192 records) in batches of 512 that each time out after 5 s. */
    private static final Duration SETTLE = Duration.ofSeconds(90);

    private String container;
    private ServerProcess server;

    @Override
    public String name() {
        return "database-restart";
    }

    @Override
    public String description() {
        return "The database (PostgreSQL in Docker) restarted during a trace (2,000 events/s, SSE client)";
    }

    @Override
    public String lostUnit() {
        return "archive rows";
    }

    @Override
    public Optional<String> unavailable(Stage stage) {
        if (!Commands.docker()) {
            return Optional.of("no Docker engine answers");
        }
        if (!Commands.run(Duration.ofSeconds(20), "docker", "image", "inspect", IMAGE).ok()) {
            return Optional.of("no image " + IMAGE + " (deploy/images/build.sh postgres builds it)");
        }
        return Optional.empty();
    }

    @Override
    public void prepare(Stage stage) {
        int port = Stage.freePort();
        container = "flt-pg-" + ProcessHandle.current().pid();
        Commands.run(Duration.ofSeconds(30), "docker", "rm", "-f", container);
        Commands.check(Duration.ofSeconds(60), "docker", "run", "-d", "--name", container, "-p",
                "127.0.0.1:" + port + ":5432", "-e", "POSTGRES_USER=periscope", "-e", "POSTGRES_PASSWORD=periscope",
                "-e", "POSTGRES_DB=periscope", IMAGE);
        String name = container;
        stage.closeLater(() -> Commands.run(Duration.ofSeconds(60), "docker", "rm", "-f", name));
        awaitReady(1);
        List<String> args = stage.serverArguments("127.0.0.1:" + stage.fake().port());
        args.add("--spring.profiles.active=postgres");
        server = new ServerProcess(stage.serverJar, stage.work.resolve("pg-server"), Stage.freePort(), args,
                Map.of("PERISCOPE_DB_URL", "//127.0.0.1:" + port + "/periscope", "PERISCOPE_DB_USER", "periscope",
                        "PERISCOPE_DB_PASSWORD", "periscope"));
        server.start();
        stage.closeLater(server);
    }

    /** Waits until PostgreSQL in the container has been ready {@code starts} times since the container was made. */
    private void awaitReady(int starts) {
        // the image's entrypoint starts PostgreSQL once to create the database, then for real: two lines a start
        boolean ready = Api.await(Duration.ofSeconds(120), () -> Commands.run(Duration.ofSeconds(20), "docker", "logs",
                        container).output().split("ready to accept connections", -1).length - 1,
                n -> n >= 2 * starts);
        if (!ready) {
            throw new IllegalStateException("PostgreSQL in " + container + " did not become ready");
        }
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("server", server.pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) throws Exception {
        Observation o = new Observation();
        Api api = server.api();
        SyntheticTraceRig rig = stage.fake().rig(VM);
        String id = api.trace(VM + "@" + Stage.FAKE_HOST, Feed.PID, "M5");
        boolean stopped = false;
        try (SseClient sse = SseClient.follow(api, id, 0); Feed feed = new Feed(rig).start(RATE)) {
            o.expect(sse.awaitSyscalls(200, Duration.ofSeconds(30)), "no syscalls before the restart");
            long before = sse.syscalls();
            long t0 = System.nanoTime();
            CompletableFuture<Commands.Result> restart = CompletableFuture.supplyAsync(() -> Commands.run(
                    Duration.ofSeconds(120), "docker", "restart", "-t", "2", container));
            Map<String, Integer> answers = new TreeMap<>();
            String example = "";
            long back = -1;
            while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(90)) {
                Api.Reply r = api.get("/api/v1/sessions/" + id, Duration.ofSeconds(10));
                if (r.status() != 200) {
                    answers.merge(r.summary(), 1, Integer::sum);
                    example = example.isEmpty() ? r.detail() : example;
                } else if (restart.isDone()) {
                    back = System.nanoTime();
                    break;
                }
                Commands.sleep(Duration.ofMillis(250));
            }
            o.expect(restart.get().ok(), "docker restart failed: " + restart.get().output());
            long during = sse.syscalls() - before;
            o.figure("API working again after the restart began (ms)", back < 0 ? -1 : (back - t0) / 1e6);
            o.figure("syscalls streamed while the database restarted", during);
            o.expect(back > 0, "the API did not work again within 90 s of the restart");
            o.expect(during > 0, "the stream stopped while the database restarted");
            o.expect(answers.keySet().stream().allMatch(a -> a.startsWith("503")),
                    "the API answered " + answers + " while the database was away");
            feed.stop();
            Commands.sleep(Duration.ofMillis(500)); // the archive's last batch is written
            Api.Reply stop = api.stop(id);
            stopped = stop.status() == 200;
            o.expect(stopped && "ENDED".equals(stop.body().path("state").asString("")),
                    "stopping the session after the restart: " + stop.summary() + " " + stop.text());
            o.sees("SSE goes on; the API answers " + (answers.isEmpty() ? "200 throughout" : String.join(", ",
                    answers.keySet())) + " while the database is away, then works again").example(example);
        } finally {
            if (!stopped) {
                api.stop(id);
            }
        }
        archiveLosses(api, id, o);
        return o;
    }

    /**
     * Rows the archive lacks against the events the session delivered, and how many of them were counted, once the
     * archive's last batches are done: they are written after the session's end, each within the server's write
     * timeout, so the figures may take a few seconds to settle (how long is a figure of its own).
     */
    private void archiveLosses(Api api, String id, Observation o) {
        long t0 = System.nanoTime();
        long[] figures = archiveFigures(api, id);
        while (figures[0] - figures[1] != figures[2] && System.nanoTime() - t0 < SETTLE.toNanos()) {
            Commands.sleep(Duration.ofMillis(500));
            figures = archiveFigures(api, id);
        }
        long delivered = figures[0], archived = figures[1], counted = figures[2];
        o.figure("archive settled after the session's stop (ms)", (System.nanoTime() - t0) / 1e6);
        o.lost(delivered - archived, counted);
        o.figure("archive rows lost", delivered - archived);
        o.expect(delivered - archived == counted, "the session delivered " + delivered + " syscalls, the archive holds "
                + archived + ", and " + counted + " were counted as not archived (" + SETTLE.toSeconds()
                + " s after the stop)");
    }

    /** The session's delivered syscalls, the archive's rows of it and the count of those not archived. */
    private long[] archiveFigures(Api api, String id) {
        long delivered = api.session(id).path("eventsDelivered").asLong(-1);
        long archived = Long.parseLong(Commands.check(Duration.ofSeconds(30), "docker", "exec", "-e",
                "PGPASSWORD=periscope", container, "/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-U",
                "periscope", "-d", "periscope", "-tAc", "SELECT count(*) FROM syscall_event WHERE session_id = '"
                        + id + "'").strip());
        long counted = 0;
        for (JsonNode m : api.get("/api/v1/sessions/" + id + "/overhead").body()) {
            if ("archive_dropped".equals(m.path("metric").asString(""))) {
                counted = Math.round(m.path("total").asDouble(0));
            }
        }
        return new long[] {delivered, archived, counted};
    }
}
