package dev.periscope.bench.faults;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** A fault's repetitions summed up: what users saw and how often, losses, figures, leaks and broken expectations. */
final class FaultResult {

    private static final int VIOLATIONS_KEPT = 20;

    final Fault fault;
    private int repetitions;
    private final Map<String, Integer> sees = new LinkedHashMap<>();
    private final Map<String, String> examples = new LinkedHashMap<>();
    private long lost;
    private long counted;
    private final Map<String, List<Double>> figures = new LinkedHashMap<>();
    private final List<String> violations = new ArrayList<>();
    private int violationCount;
    private final Map<String, Resources[]> resources = new LinkedHashMap<>();
    private String skipped;
    private double seconds;

    FaultResult(Fault fault) {
        this.fault = fault;
    }

    void add(int repetition, Observation o) {
        repetitions++;
        sees.merge(o.userSees(), 1, Integer::sum);
        if (!o.example().isEmpty()) {
            examples.putIfAbsent(o.userSees(), o.example());
        }
        lost += o.lost();
        counted += o.counted();
        o.figures().forEach((k, v) -> figures.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        o.violations().forEach(v -> violation("repetition " + repetition + ": " + v));
    }

    void violation(String v) {
        violationCount++;
        if (violations.size() < VIOLATIONS_KEPT) {
            violations.add(v);
        }
        System.out.println("faults: " + fault.name() + ": VIOLATION " + v);
    }

    void resources(String label, Resources before, Resources after) {
        resources.put(label, new Resources[] {before, after});
        Resources growth = after.minus(before);
        if (!growth.within(Resources.TOLERANCE)) {
            violation(label + " grew over " + repetitions + " repetitions: " + Resources.change(before, after));
        }
    }

    void skipped(String why) {
        this.skipped = why;
    }

    void seconds(double s) {
        this.seconds = s;
    }

    boolean ok() {
        return violationCount == 0;
    }

    String skipReason() {
        return skipped;
    }

    List<String> violations() {
        return violations;
    }

    int repetitions() {
        return repetitions;
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("fault", fault.name());
        m.put("description", fault.description());
        if (skipped != null) {
            m.put("skipped", skipped);
            return m;
        }
        m.put("repetitions", repetitions);
        m.put("seconds", Math.round(seconds));
        m.put("userSees", sees);
        m.put("examples", examples);
        m.put("lost", lost);
        m.put("counted", counted);
        m.put("lostUnit", fault.lostUnit());
        Map<String, Object> f = new LinkedHashMap<>();
        figures.forEach((k, v) -> f.put(k, Map.of("max", v.stream().mapToDouble(Double::doubleValue).max().orElse(0),
                "mean", v.stream().mapToDouble(Double::doubleValue).average().orElse(0))));
        m.put("figures", f);
        Map<String, Object> r = new LinkedHashMap<>();
        resources.forEach((k, v) -> r.put(k, Map.of("before", v[0].json(), "after", v[1].json())));
        m.put("resources", r);
        m.put("violationCount", violationCount);
        m.put("violations", violations);
        return m;
    }

    /** Its row of the results table (docs/RELIABILITY.md). */
    String markdownRow(String command) {
        if (skipped != null) {
            return "| " + fault.description() + " | skipped: " + skipped + " | | | `" + command + "` |";
        }
        String seen = sees.entrySet().stream().map(e -> e.getKey() + (examples.containsKey(e.getKey())
                ? " (\"" + examples.get(e.getKey()).replace("|", "\\|") + "\")" : "") + " ×" + e.getValue())
                .collect(Collectors.joining("; "));
        String figs = figures.entrySet().stream().map(e -> String.format(Locale.ROOT, "%s max %.0f", e.getKey(),
                e.getValue().stream().mapToDouble(Double::doubleValue).max().orElse(0))).collect(Collectors.joining(", "));
        String leaks = resources.entrySet().stream().map(e -> e.getKey() + ": "
                + Resources.change(e.getValue()[0], e.getValue()[1])).collect(Collectors.joining("; "));
        return "| " + fault.description() + " | " + seen + (figs.isEmpty() ? "" : "; " + figs) + " | " + lost + " "
                + fault.lostUnit() + " (" + counted + " counted) | " + repetitions + " repetitions" + (ok() ? "" : ", "
                + violationCount + " violations") + "; " + leaks + " | `" + command + "` |";
    }
}
