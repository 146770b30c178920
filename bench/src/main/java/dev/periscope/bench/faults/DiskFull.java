package dev.periscope.bench.faults;

import dev.periscope.vmi.trace.SyntheticTraceRig;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import tools.jackson.databind.JsonNode;

/**
 * A full disk under the archive: the control plane's var directory (its H2 database, where the syscall archive is)
 * on the tmpfs the suite mounts under it, filled by a ballast file down to 16 MiB free, half of the 32 MiB the archive
 * must leave the database ({@code periscope.archive.disk-reserve}), while a 5,000 syscalls/s trace of the fake agent
 * runs. Expected: the server lives and keeps streaming, says in the session's stream that the archive is failing
 * (and, once the ballast is gone, that it archives again), the API answers throughout (the database intact), and the
 * syscalls not archived are counted.
 */
final class DiskFull implements Fault {

    private static final String VM = "flt-disk";
    private static final long RATE = 5000;
    /** Free space the ballast leaves: half the archive's reserve. */
    private static final long LEFT = (long) Stage.RESERVE_MIB << 19;

    private Path disk;

    @Override
    public String name() {
        return "disk-full";
    }

    @Override
    public String description() {
        return "The archive's disk full (H2 on a tmpfs filled down to half the archive's reserve) during a trace "
                + "(5,000 events/s)";
    }

    @Override
    public String lostUnit() {
        return "archive rows";
    }

    @Override
    public Optional<String> unavailable(Stage stage) {
        return Commands.root() ? Optional.empty() : Optional.of("mounting a tmpfs under the server needs root");
    }

    @Override
    public void prepare(Stage stage) {
        disk = stage.serverTmpfs().orElseThrow();
    }

    @Override
    public List<Watched> watched(Stage stage) {
        return List.of(new Watched("server", stage.server().pid()));
    }

    @Override
    public Observation once(Stage stage, int repetition) throws IOException {
        Observation o = new Observation();
        Api api = stage.api();
        SyntheticTraceRig rig = stage.fake().rig(VM);
        Path ballast = disk.resolve("ballast");
        fill(ballast, Files.getFileStore(disk).getUsableSpace() - LEFT);
        String id = api.trace(VM + "@" + Stage.FAKE_HOST, Feed.PID, "M5");
        try (SseClient sse = SseClient.follow(api, id, 0); Feed feed = new Feed(rig).start(RATE)) {
            boolean failing = Api.await(Duration.ofSeconds(90), sse::notices,
                    n -> n.stream().anyMatch(m -> m.contains("archive") && m.contains("failing")));
            o.expect(failing, "no notice that the archive fails within 90 s (disk free: "
                    + Files.getFileStore(disk).getUsableSpace() + " bytes)");
            long s1 = sse.syscalls();
            Map<String, Integer> answers = new TreeMap<>();
            for (int i = 0; i < 5; i++) {
                Commands.sleep(Duration.ofSeconds(1));
                answers.merge(api.get("/api/v1/sessions/" + id, Duration.ofSeconds(10)).summary(), 1, Integer::sum);
            }
            long streamed = sse.syscalls() - s1;
            o.figure("syscalls streamed in the 5 s after the archive failed", streamed);
            o.expect(stage.server().alive(), "the server died");
            o.expect(streamed > 0, "the stream stopped when the disk filled");
            o.expect(answers.keySet().stream().allMatch(a -> a.startsWith("200")),
                    "the API answered " + answers + " with the archive's disk full");

            Files.delete(ballast);
            boolean recovered = Api.await(Duration.ofSeconds(60), sse::notices,
                    n -> n.stream().anyMatch(m -> m.contains("archive") && m.contains("again")));
            o.expect(recovered, "no notice that the archive works again within 60 s of freeing the disk");
            boolean api200 = Api.await(Duration.ofSeconds(60), () -> api.get("/api/v1/sessions/" + id).status(),
                    s -> s == 200);
            o.expect(api200, "the API does not work again after the disk was freed");
            feed.stop();
            o.sees("SSE goes on with a notice that the archive fails" + (recovered ? " (and later that it works again)"
                    : "") + "; the API answers " + String.join(", ", answers.keySet()))
                    .example(sse.notices().stream().filter(m -> m.contains("archive")).findFirst().orElse(""));
        } finally {
            Files.deleteIfExists(ballast);
            api.stop(id);
        }
        long counted = 0;
        for (JsonNode m : api.get("/api/v1/sessions/" + id + "/overhead").body()) {
            if ("archive_dropped".equals(m.path("metric").asString(""))) {
                counted = Math.round(m.path("total").asDouble(0));
            }
        }
        o.lost(counted, counted);
        o.expect(counted > 0, "no syscall counted as not archived while the disk was full");
        return o;
    }

    private static void fill(Path file, long bytes) throws IOException {
        byte[] block = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long left = bytes; left > 0; left -= block.length) {
                out.write(block, 0, (int) Math.min(block.length, left));
            }
        }
    }
}
