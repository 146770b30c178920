package dev.periscope.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Percentiles of millisecond samples and a tiny JSON writer for the end-to-end mains (no extra dependency). */
final class Stats {

    private Stats() {
    }

    /** Nearest-rank percentile of {@code sorted} (0 < p <= 100). */
    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /** n, min, p50, p95, p99, max, mean of the samples (ms). */
    static Map<String, Object> summary(List<Double> samples) {
        double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("n", s.length);
        m.put("min", s.length == 0 ? Double.NaN : s[0]);
        m.put("p50", percentile(s, 50));
        m.put("p95", percentile(s, 95));
        m.put("p99", percentile(s, 99));
        m.put("max", s.length == 0 ? Double.NaN : s[s.length - 1]);
        m.put("mean", Arrays.stream(s).average().orElse(Double.NaN));
        return m;
    }

    static String line(String label, Map<String, Object> summary) {
        return String.format(Locale.ROOT, "%-44s n=%-4s p50=%9.3f p95=%9.3f p99=%9.3f max=%9.3f ms", label,
                summary.get("n"), summary.get("p50"), summary.get("p95"), summary.get("p99"), summary.get("max"));
    }

    static String json(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, "");
        return b.append('\n').toString();
    }

    private static void write(StringBuilder b, Object v, String indent) {
        switch (v) {
            case null -> b.append("null");
            case Map<?, ?> map -> {
                b.append("{\n");
                int i = 0;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    b.append(indent).append("  \"").append(escape(e.getKey().toString())).append("\": ");
                    write(b, e.getValue(), indent + "  ");
                    b.append(++i < map.size() ? ",\n" : "\n");
                }
                b.append(indent).append('}');
            }
            case List<?> list -> {
                b.append('[');
                for (int i = 0; i < list.size(); i++) {
                    write(b, list.get(i), indent);
                    if (i + 1 < list.size()) {
                        b.append(", ");
                    }
                }
                b.append(']');
            }
            case Double d -> b.append(d.isNaN() || d.isInfinite() ? "null"
                    : String.format(Locale.ROOT, "%.4f", d));
            case Number n -> b.append(n);
            case Boolean bool -> b.append(bool);
            default -> b.append('"').append(escape(v.toString())).append('"');
        }
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    static void writeJson(Path file, Object value) throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        Files.writeString(file, json(value));
    }

    /** {@code --name value} arguments into a map. */
    static Map<String, String> args(String[] argv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + argv[i]);
            }
            m.put(argv[i].substring(2), argv[i + 1]);
        }
        return m;
    }

    static double ms(long nanos) {
        return nanos / 1e6;
    }
}
