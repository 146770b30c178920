package dev.periscope.vmi.driver.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.driver.lab.LabMetaScript.Field;
import dev.periscope.vmi.driver.lab.LabMetaScript.Kind;
import dev.periscope.vmi.driver.lab.LabMetaScript.Schema;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import tools.jackson.databind.JsonNode;

/**
 * The contract between the lab's meta.json writer (lab/lib/meta.sh, run with bash as lab.sh runs it) and its reader
 * (LabMeta): every field LabMeta reads is written with the JSON type it expects, and every value comes back exactly,
 * however awkward, from meta.json and from meta.env, for each kind of run directory meta.sh describes.
 */
class LabMetaContractTest {

    /** Quotes, backslashes, control characters, shell syntax, non-ASCII text and a trailing newline. */
    private static final String AWKWARD = " two  spaces \"double\" 'single' back\\slash \\n\\u0041 newline\nnext\ttab"
            + "\rcr \u0001\u001f\u007f $(echo no) `echo no` ${HOME} $'x' ; & | > é ✓ 𝄞\n";

    @TempDir
    Path dir;

    @Test
    void writesEveryFieldLabMetaReadsWithTheTypeItReads() {
        Map<String, Kind> kinds = LabMetaScript.fields(Schema.VM).stream()
                .collect(Collectors.toMap(Field::name, Field::kind));
        for (String text : List.of("name", "tenant", "kernelVersion", "workload", "ramPath", "qmpSocket",
                "shellSocket", "startedAt", "ringPath", "ringTokenFile", "events")) {
            assertThat(kinds).as(text).containsEntry(text, Kind.STR);
        }
        for (String number : List.of("memoryMib", "qemuPid")) {
            assertThat(kinds).as(number).containsEntry(number, Kind.NUM);
        }
    }

    @Test
    void labMetaReadsAwkwardValuesExactly() throws IOException {
        Map<String, String> values = awkwardValues(Schema.VM);
        LabMetaScript.writeVm(dir, values);

        LabMeta meta = LabMeta.read(dir);
        assertThat(meta.runDir()).isEqualTo(dir);
        assertThat(meta.name()).isEqualTo(values.get("name"));
        assertThat(meta.tenant()).isEqualTo(values.get("tenant"));
        assertThat(meta.memoryMib()).isEqualTo(Long.parseLong(values.get("memoryMib")));
        assertThat(meta.kernelVersion()).isEqualTo(values.get("kernelVersion"));
        assertThat(meta.workload()).isEqualTo(values.get("workload"));
        assertThat(meta.ramPath()).isEqualTo(Path.of(values.get("ramPath")));
        assertThat(meta.qmpSocket()).isEqualTo(Path.of(values.get("qmpSocket")));
        assertThat(meta.shellSocket()).isEqualTo(Path.of(values.get("shellSocket")));
        assertThat(meta.qemuPid()).isEqualTo(Long.parseLong(values.get("qemuPid")));
        assertThat(meta.startedAt()).isEqualTo(Instant.parse(values.get("startedAt")));
        assertThat(meta.ringPath()).isEqualTo(Path.of(values.get("ringPath")));
        assertThat(meta.ringTokenFile()).isEqualTo(Path.of(values.get("ringTokenFile")));
        assertThat(meta.events()).isEqualTo(values.get("events"));
    }

    @ParameterizedTest
    @EnumSource(Schema.class)
    void everyFieldComesBackExactlyFromMetaJsonAndMetaEnv(Schema schema) throws IOException {
        List<Field> fields = LabMetaScript.fields(schema);
        Map<String, String> values = awkwardValues(schema);
        LabMetaScript.write(schema, dir, values);

        // meta.json: the string and number fields, in meta.sh's order, each with its value and JSON type
        JsonNode json = QmpClient.JSON.readTree(Files.readString(dir.resolve("meta.json")));
        assertThat(json.propertyNames()).containsExactlyElementsOf(
                fields.stream().filter(f -> f.kind() != Kind.ENV).map(Field::name).toList());
        for (Field field : fields) {
            JsonNode node = json.get(field.name());
            switch (field.kind()) {
                case STR -> assertThat(node.isString() ? node.asString() : node).as(field.name())
                        .isEqualTo(values.get(field.name()));
                case NUM -> assertThat(node.isNumber() || node.isBoolean() ? node.toString() : node).as(field.name())
                        .isEqualTo(values.get(field.name()));
                case ENV -> assertThat(node).as(field.name()).isNull();
            }
        }
        // meta.env: every field, as the lab's shell commands read it back
        assertThat(LabMetaScript.readEnv(schema, dir)).isEqualTo(values);
    }

    @Test
    void aNumberFieldThatIsNoNumberIsRefusedAndTheFilesBeforeStay() throws IOException {
        LabMetaScript.writeVm(dir, Map.of("name", "lxcore-meta", "memoryMib", "512", "ramPath", "/r",
                "qmpSocket", "/q"));
        String before = Files.readString(dir.resolve("meta.json"));

        assertThatThrownBy(() -> LabMetaScript.writeVm(dir, Map.of("name", "lxcore-meta",
                "memoryMib", "512, \"qemuPid\": 1", "ramPath", "/r", "qmpSocket", "/q")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("M_memoryMib is not a number");
        assertThat(Files.readString(dir.resolve("meta.json"))).isEqualTo(before);
        assertThat(LabMeta.read(dir).memoryMib()).isEqualTo(512);
        try (var files = Files.list(dir)) {
            assertThat(files.map(f -> f.getFileName().toString())).containsExactlyInAnyOrder("meta.json", "meta.env");
        }
    }

    /**
     * A value for every field of {@code schema}: strings (and meta.env-only fields) awkward and named after their
     * field, numbers distinct, and the values whose form the readers rely on in their real shape.
     */
    private static Map<String, String> awkwardValues(Schema schema) {
        List<Field> fields = LabMetaScript.fields(schema);
        Map<String, String> values = new LinkedHashMap<>();
        for (int i = 0; i < fields.size(); i++) {
            Field field = fields.get(i);
            values.put(field.name(), field.kind() == Kind.NUM ? Integer.toString(100 + i) : field.name() + AWKWARD);
        }
        values.replace("startedAt", "2026-01-02T03:04:05Z"); // LabMeta reads an instant
        values.replace("kaslr", "true");
        values.replace("bootSeconds", "-9.75");
        return values;
    }
}
