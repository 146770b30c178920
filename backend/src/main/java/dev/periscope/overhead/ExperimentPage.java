package dev.periscope.overhead;

import dev.periscope.system.DashboardPage;
import dev.periscope.system.PeriscopeProperties;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code /experiment}: the five monitoring methods compared (docs/ARCHITECTURE.md, "Traces and the five methods"),
 * our newest results from {@code bench/overhead.sh} (its files under {@code VAR/bench/overhead/}: JSON preferred, the
 * text table of older runs otherwise), one table per platform (the QEMU lab, the Xen lab; a run of the paper's
 * configuration, {@code --paper}, before any other), each beside Taubmann and Reiser's DAIS 2020 Table 1. Reading the
 * files is blocking: it runs on the bounded scheduler for blocking calls.
 */
@DashboardPage
class ExperimentPage {

    /** The paper's figures (Table 1), by the method of ours that corresponds. */
    private static final List<Paper> PAPER = List.of(
            new Paper("M1", "no monitoring", 0.0, "baseline"),
            new Paper("M2", "all-process syscalls", 2736.0, "1,245,130 syscalls"),
            new Paper("M3", "process-bound, CR3 events handled in the monitor", 2141.0, "20,553,669 CR3 events"),
            new Paper("M4", "process-bound, CR3 events pre-filtered in the hypervisor", 58.0, "276 CR3 events"),
            new Paper("M5", "(not in the paper: decoded in the hypervisor, asynchronous)", null, ""));

    private static final Pattern TEXT_ROW = Pattern.compile(
            "^(M[1-5])\\s+(\\d+)\\s+(-?\\d+)\\s+(\\d+)\\s+(-?[\\d.]+)%\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+"
                    + "(\\d+) ms\\s+(\\d+)\\s+(\\d+)");

    private final Path dir;
    private final Scheduler blockingReads;

    ExperimentPage(PeriscopeProperties properties, Scheduler blockingReads) {
        this.dir = properties.varDir().resolve("bench").resolve("overhead");
        this.blockingReads = blockingReads;
    }

    record Paper(String method, String setup, Double overheadPct, String events) {
    }

    /** One method's row: ours (null when not measured) and the paper's. */
    record Row(String method, String description, Double overheadPct, Double meanMs, Double stdevMs,
               Double syscallsTraced, Double cr3Seen, Double cr3Delivered, Double cr3Filtered, Double vcpuWaitMs,
               Double dropped, Paper paper, double oursBar, double paperBar) {
    }

    /**
     * A result file and what it says.
     *
     * @param platform {@code lab} (QEMU) or {@code xen}; files older than the field are the QEMU lab's
     * @param profile  {@code paper} (the DAIS 2020 configuration) or {@code default}
     */
    record Result(String file, Instant modified, String platform, String profile, String machine, Integer runs,
                  List<Row> rows, String text) {
        /** A heading for the platform. */
        public String platformName() {
            return platform.equals("xen") ? "Xen lab (PVH guest under nested Xen)" : "QEMU lab (TCG guest)";
        }
    }

    @GetMapping("/experiment")
    String experiment(Model model) {
        model.addAttribute("results", Mono.fromCallable(this::newest).subscribeOn(blockingReads));
        model.addAttribute("paper", PAPER);
        model.addAttribute("dir", dir.toString());
        return "experiment";
    }

    /** Per platform (the QEMU lab first), the newest readable result of the paper's profile, else of any. */
    private List<Result> newest() throws IOException {
        List<Result> all = readable();
        List<Result> out = new ArrayList<>();
        for (String platform : List.of("lab", "xen")) {
            List<Result> mine = all.stream().filter(r -> r.platform().equals(platform)).toList();
            mine.stream().filter(r -> r.profile().equals("paper")).findFirst().or(() -> mine.stream().findFirst())
                    .ifPresent(out::add);
        }
        return out;
    }

    /** Every result file that reads, newest first. */
    private List<Result> readable() throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Path> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.filter(p -> p.toString().endsWith(".json") || p.toString().endsWith(".txt"))
                    .filter(p -> size(p) > 0)
                    .sorted(Comparator.comparing(ExperimentPage::modified).reversed())
                    .toList();
        }
        List<Result> out = new ArrayList<>();
        for (Path file : files) {
            try {
                Result r = file.toString().endsWith(".json") ? fromJson(file) : fromText(file);
                if (!r.rows().isEmpty()) {
                    out.add(r);
                }
            } catch (RuntimeException | IOException unreadable) {
                // a half-written or foreign file: try the next one
            }
        }
        return out;
    }

    private static Result fromJson(Path file) throws IOException {
        JsonNode root = JsonMapper.builder().build().readTree(Files.readString(file));
        List<double[]> values = new ArrayList<>();
        List<String> methods = new ArrayList<>();
        for (JsonNode m : root.path("methods")) {
            methods.add(m.path("method").asString());
            values.add(new double[] {m.path("overheadPct").asDouble(), m.path("meanMs").asDouble(),
                    m.path("stdevMs").asDouble(), m.path("syscallsTraced").asDouble(), m.path("cr3Seen").asDouble(),
                    m.path("cr3Delivered").asDouble(), m.path("cr3Filtered").asDouble(),
                    m.path("vcpuWaitMs").asDouble(), m.path("dropped").asDouble()});
        }
        return new Result(file.getFileName().toString(), modified(file), root.path("platform").asString("lab"),
                root.path("profile").asString("default"), root.path("machine").asString(""),
                root.path("runs").isMissingNode() ? null : root.path("runs").asInt(), rows(methods, values), null);
    }

    private static Result fromText(Path file) throws IOException {
        String text = Files.readString(file);
        List<double[]> values = new ArrayList<>();
        List<String> methods = new ArrayList<>();
        String machine = "";
        for (String line : text.split("\n")) {
            Matcher m = TEXT_ROW.matcher(line.strip());
            if (m.find()) {
                methods.add(m.group(1));
                values.add(new double[] {d(m, 5), d(m, 3), d(m, 4), d(m, 7), d(m, 8), d(m, 9), d(m, 10), d(m, 11),
                        d(m, 13)});
            } else if (line.startsWith("machine: ")) {
                machine = line.substring("machine: ".length());
            }
        }
        return new Result(file.getFileName().toString(), modified(file), "lab", "default", machine, null,
                rows(methods, values), text);
    }

    private static List<Row> rows(List<String> methods, List<double[]> values) {
        double oursMax = values.stream().mapToDouble(v -> Math.max(0, v[0])).max().orElse(0);
        double paperMax = PAPER.stream().filter(p -> p.overheadPct() != null).mapToDouble(Paper::overheadPct).max().orElse(1);
        List<Row> rows = new ArrayList<>();
        for (Paper p : PAPER) {
            int i = methods.indexOf(p.method());
            double[] v = i < 0 ? null : values.get(i);
            double paperBar = p.overheadPct() == null ? 0 : 100 * p.overheadPct() / paperMax;
            if (v == null) {
                rows.add(new Row(p.method(), p.setup(), null, null, null, null, null, null, null, null, null, p, 0,
                        paperBar));
            } else {
                rows.add(new Row(p.method(), p.setup(), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], p,
                        oursMax <= 0 ? 0 : 100 * Math.max(0, v[0]) / oursMax, paperBar));
            }
        }
        return methods.isEmpty() ? List.of() : rows;
    }

    private static double d(Matcher m, int group) {
        return Double.parseDouble(m.group(group));
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    private static Instant modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toInstant();
        } catch (IOException e) {
            return Instant.EPOCH;
        }
    }
}
