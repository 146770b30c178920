package dev.periscope.vmi.driver.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Run directories written by the lab's own meta.json writer, lab/lib/meta.sh (what lab.sh start runs), so tests
 * read the format lab.sh writes instead of a copy of it. Values reach bash NUL-separated on its stdin, byte for byte.
 */
final class LabMetaScript {

    /** How meta.sh writes a field: a JSON string, a JSON number (or true/false), or to meta.env only. */
    enum Kind {
        STR, NUM, ENV
    }

    /** The kinds of run directory meta.sh describes: each with its field list, variable prefix and writer. */
    enum Schema {
        /** A lab VM (lab.sh start). */
        VM("VM_META_FIELDS", "M_", "vm_meta_write"),
        /** The machine that runs Xen (lab.sh xen up). */
        XEN("XEN_META_FIELDS", "X_", "xen_meta_write"),
        /** A domU of the Xen lab (lab.sh xen guest). */
        XEN_GUEST("XEN_GUEST_META_FIELDS", "G_", "xen_guest_meta_write");

        private final String fieldList;
        private final String prefix;
        private final String writer;

        Schema(String fieldList, String prefix, String writer) {
            this.fieldList = fieldList;
            this.prefix = prefix;
            this.writer = writer;
        }
    }

    /** One entry of a meta.sh field list ("name:kind"). */
    record Field(String name, Kind kind) {

        static Field parse(String entry) {
            int colon = entry.lastIndexOf(':');
            String kind = entry.substring(colon + 1).toUpperCase(Locale.ROOT);
            return new Field(entry.substring(0, colon), Kind.valueOf(kind));
        }
    }

    private static final Path META_SH = LabVm.repo().resolve("lab/lib/meta.sh");

    private LabMetaScript() {
    }

    /** The fields of {@code schema}'s meta files in the order meta.sh writes them. */
    static List<Field> fields(Schema schema) {
        String out = bash("""
                source "$1"
                printf '%%s\\n' "${%s[@]}"
                """.formatted(schema.fieldList), new byte[0]);
        return out.lines().map(Field::parse).toList();
    }

    /**
     * Writes a lab VM's {@code runDir}/meta.json and meta.env with meta.sh's vm_meta_write, from {@code values}
     * (field name to value); a field left out is "" (a string or meta.env field) or 0 (a number).
     *
     * @throws IllegalStateException when the writer refuses (its message says why), or for a name meta.sh lacks
     */
    static void writeVm(Path runDir, Map<String, String> values) {
        write(Schema.VM, runDir, values);
    }

    /** {@link #writeVm} for any kind of run directory. */
    static void write(Schema schema, Path runDir, Map<String, String> values) {
        List<Field> fields = fields(schema);
        Set<String> names = fields.stream().map(Field::name).collect(Collectors.toSet());
        if (!names.containsAll(values.keySet())) {
            throw new IllegalStateException("meta.sh writes no field " + values.keySet().stream()
                    .filter(name -> !names.contains(name)).toList());
        }
        ByteArrayOutputStream stdin = new ByteArrayOutputStream();
        for (Field field : fields) {
            String value = values.getOrDefault(field.name(), field.kind() == Kind.NUM ? "0" : "");
            stdin.writeBytes((field.name() + '\0' + value + '\0').getBytes(StandardCharsets.UTF_8));
        }
        bash("""
                source "$1"
                while IFS= read -r -d '' name && IFS= read -r -d '' value; do printf -v "%s$name" '%%s' "$value"; done
                %s "$2"
                """.formatted(schema.prefix, schema.writer), stdin.toByteArray(), runDir.toString());
    }

    /** The values {@code runDir}/meta.env gives the shell (meta.sh's meta_load), by field name. */
    static Map<String, String> readEnv(Schema schema, Path runDir) {
        String out = bash("""
                source "$1"
                meta_load "$2"
                for field in "${%s[@]}"; do var=%s${field%%:*}; printf '%%s\\0%%s\\0' "${field%%:*}" "${!var}"; done
                """.formatted(schema.fieldList, schema.prefix), new byte[0], runDir.toString());
        String[] parts = out.split("\0", -1);
        Map<String, String> values = new LinkedHashMap<>();
        for (int i = 0; i + 1 < parts.length; i += 2) {
            values.put(parts[i], parts[i + 1]);
        }
        return values;
    }

    private static Thread drain(InputStream from, ByteArrayOutputStream to) {
        return Thread.ofVirtual().start(() -> {
            try {
                from.transferTo(to);
            } catch (IOException e) {
                // the stream broke because bash died: its exit code and stderr say why
            }
        });
    }

    /** Runs {@code script} with meta.sh's path as $1 and {@code args} after it; returns its stdout. */
    private static String bash(String script, byte[] stdin, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", "-c", "set -euo pipefail\n" + script, "bash",
                META_SH.toString()));
        command.addAll(List.of(args));
        try {
            Process process = new ProcessBuilder(command).start();
            // Read both streams while writing, so neither pipe can fill up and block the script.
            ByteArrayOutputStream stdout = new ByteArrayOutputStream();
            ByteArrayOutputStream stderr = new ByteArrayOutputStream();
            Thread out = drain(process.getInputStream(), stdout);
            Thread err = drain(process.getErrorStream(), stderr);
            try (OutputStream in = process.getOutputStream()) {
                in.write(stdin);
            }
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("meta.sh did not finish within 30 s");
            }
            out.join();
            err.join();
            if (process.exitValue() != 0) {
                throw new IllegalStateException("meta.sh failed (" + process.exitValue() + "): "
                        + stderr.toString(StandardCharsets.UTF_8).strip());
            }
            return stdout.toString(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run bash with " + META_SH, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + META_SH, e);
        }
    }
}
