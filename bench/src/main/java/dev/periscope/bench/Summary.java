package dev.periscope.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Prints (and writes as {@code summary.md}) the figures of one bench/run.sh run next to the targets of
 * docs/ARCHITECTURE.md ("Performance targets"), from the run directory's jmh.json, engine-e2e.json and rest-latency.json (each optional).
 * Usage: {@code java -cp benchmarks.jar dev.periscope.bench.Summary RUN_DIR}
 */
public final class Summary {

    private record Row(String what, String figure, String target, String verdict, String source) {
    }

    private final List<Row> rows = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : ".");
        Summary s = new Summary();
        JsonMapper json = JsonMapper.builder().build();
        Path jmh = dir.resolve("jmh.json");
        if (Files.isRegularFile(jmh)) {
            s.jmh(json.readTree(Files.readString(jmh)));
        }
        Path engine = dir.resolve("engine-e2e.json");
        if (Files.isRegularFile(engine)) {
            s.engine(json.readTree(Files.readString(engine)));
        }
        Path rest = dir.resolve("rest-latency.json");
        if (Files.isRegularFile(rest)) {
            s.rest(json.readTree(Files.readString(rest)));
        }
        String table = s.table();
        System.out.print(table);
        Files.writeString(dir.resolve("summary.md"), table);
    }

    private void jmh(JsonNode results) {
        for (JsonNode r : results) {
            String name = r.path("benchmark").asString("").replace("dev.periscope.bench.", "");
            JsonNode m = r.path("primaryMetric");
            double score = m.path("score").asDouble();
            double error = m.path("scoreError").asDouble(Double.NaN);
            String unit = m.path("scoreUnit").asString("");
            String pm = Double.isNaN(error) ? "" : String.format(Locale.ROOT, " ± %.3g", error);
            String figure = String.format(Locale.ROOT, "%.4g %s%s", score, unit, pm);
            String src = "JMH " + name;
            switch (name) {
                case "PhysicalReadBenchmark.readWholeImage" -> {
                    String chunk = r.path("params").path("chunk").asString("?");
                    double gbs = (PhysicalReadBenchmark.IMAGE_BYTES / 1e9) / (toMillis(score, unit) / 1e3);
                    add("guest RAM read, sequential, " + chunk + " B reads",
                            String.format(Locale.ROOT, "%.2f GB/s (%s)", gbs, figure), ">= 5 GB/s", gbs >= 5, src);
                }
                case "TranslationBenchmark.cached" -> add("cached VA->PA translation (kernel symbols)",
                        figure, "<= 100 ns", toNanos(score, unit) <= 100, src);
                case "TranslationBenchmark.cachedReadLong" -> info("8-byte virtual read, cached translation", figure, src);
                case "TranslationBenchmark.missWalk" -> info("translation miss (page walk + fill)", figure, src);
                case "TranslationBenchmark.uncachedInvalidate" ->
                        info("translation after invalidate() (walk + new cache)", figure, src);
                case "ProcessListBenchmark.walk" -> add("process list, warm, in the engine (LinuxModel walk)",
                        figure, "<= 2 ms", toMillis(score, unit) <= 2, src);
                case "ProcessListBenchmark.engineLive" -> add("process list, VmiEngine LIVE",
                        figure, "<= 2 ms", toMillis(score, unit) <= 2, src);
                case "ProcessListBenchmark.enginePause" -> info("process list, VmiEngine PAUSE (QMP stop/cont)", figure, src);
                case "ProfileBenchmark.cold" -> add("profile, cold cache (JIT warm)", figure, "<= 3 s",
                        toMillis(score, unit) <= 3000, src);
                case "ProfileBenchmark.warm" -> add("profile, warm cache", figure, "<= 100 ms",
                        toMillis(score, unit) <= 100, src);
                default -> info(name, figure, src);
            }
        }
    }

    private void engine(JsonNode e) {
        String src = "EngineEndToEnd";
        double first = e.path("profileFirstCallInFreshJvmMs").asDouble();
        add("profile, first call in a fresh JVM", ms(first), "<= 3 s", first <= 3000, src);
        JsonNode snap = e.path("engineSnapshot");
        JsonNode down = snap.path("guestDowntimeMs");
        add("SNAPSHOT guest downtime, " + e.path("guestRamBytes").asLong() / (1 << 20) + " MiB guest",
                pct(down), "<= 20 ms", down.path("p50").asDouble() <= 20, src + " (" + down.path("n").asInt() + " runs)");
        info("SNAPSHOT process list, wall time", pct(snap.path("wallMs")), src);
        JsonNode raw = e.path("domainSnapshot");
        if (!raw.isMissingNode()) {
            info("Domain.snapshot guest downtime", pct(raw.path("guestDowntimeMs")), src);
            info("Domain.snapshot total time to readable image", pct(raw.path("totalTimeMs")), src);
        }
        info("PAUSE process list guest downtime", pct(e.path("enginePause").path("guestDowntimeMs")), src);
        JsonNode pc = e.path("pauseAndCopy");
        if (!pc.isMissingNode()) {
            info("pause-and-copy guest downtime (anchor ~0.5 s)", pct(pc.path("guestDowntimeMs")), src);
        }
    }

    private void rest(JsonNode r) {
        String src = "RestLatency " + r.path("url").asString("");
        for (String mode : List.of("live", "pause", "snapshot")) {
            JsonNode m = r.path(mode);
            if (m.isMissingNode()) {
                continue;
            }
            JsonNode lat = m.path("latencyMs");
            String what = "REST process list " + mode.toUpperCase(Locale.ROOT) + " round trip (" + m.path("processes").asInt()
                    + " processes, n=" + lat.path("n").asInt() + ")";
            if (mode.equals("live")) {
                add(what, pct(lat), "<= 20 ms", lat.path("p50").asDouble() <= 20, src);
            } else {
                info(what, pct(lat), src);
            }
        }
    }

    private static String pct(JsonNode s) {
        return String.format(Locale.ROOT, "p50 %.2f / p95 %.2f / p99 %.2f ms", s.path("p50").asDouble(),
                s.path("p95").asDouble(), s.path("p99").asDouble());
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, "%.1f ms", v);
    }

    private static double toMillis(double v, String unit) {
        return switch (unit) {
            case "ns/op" -> v / 1e6;
            case "us/op" -> v / 1e3;
            case "ms/op" -> v;
            case "s/op" -> v * 1e3;
            default -> Double.NaN;
        };
    }

    private static double toNanos(double v, String unit) {
        return toMillis(v, unit) * 1e6;
    }

    private void add(String what, String figure, String target, boolean met, String source) {
        rows.add(new Row(what, figure, target, met ? "met" : "MISSED", source));
    }

    private void info(String what, String figure, String source) {
        rows.add(new Row(what, figure, "-", "", source));
    }

    private String table() {
        StringBuilder b = new StringBuilder("| what | figure | target | verdict | source |\n|---|---|---|---|---|\n");
        for (Row r : rows) {
            b.append("| ").append(r.what).append(" | ").append(r.figure).append(" | ").append(r.target).append(" | ")
                    .append(r.verdict).append(" | ").append(r.source).append(" |\n");
        }
        return b.toString();
    }
}
