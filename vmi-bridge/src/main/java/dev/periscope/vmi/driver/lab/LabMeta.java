package dev.periscope.vmi.driver.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import tools.jackson.databind.JsonNode;

/**
 * One lab VM's meta.json as lab/lab.sh writes it into its run directory. {@code ringPath} and
 * {@code ringTokenFile} are null for VMs started without the hypervisor extension ({@code events} says why).
 */
record LabMeta(Path runDir, String name, String tenant, long memoryMib, String kernelVersion, String workload,
               Path ramPath, Path qmpSocket, Path shellSocket, long qemuPid, Instant startedAt, Path ringPath,
               Path ringTokenFile, String events) {

    /** Reads {@code runDir/meta.json}; fails with IOException or a JacksonException when it is absent or bad. */
    static LabMeta read(Path runDir) throws IOException {
        JsonNode json = QmpClient.JSON.readTree(Files.readString(runDir.resolve("meta.json")));
        String name = required(json, "name");
        return new LabMeta(runDir, name, json.path("tenant").asString("default"),
                json.path("memoryMib").asLong(0), json.path("kernelVersion").asString(""),
                json.path("workload").asString(""), Path.of(required(json, "ramPath")),
                Path.of(required(json, "qmpSocket")), Path.of(json.path("shellSocket").asString("shell.sock")),
                json.path("qemuPid").asLong(-1), instant(json.path("startedAt").asString("")),
                optionalPath(json, "ringPath"), optionalPath(json, "ringTokenFile"),
                json.path("events").asString(""));
    }

    /**
     * Whether lab.sh started this VM with the hypervisor extension: meta.json names the ring and its token file
     * and both exist (a VM started without a built plugin has "events": "off: ...").
     */
    boolean hasEventRing() {
        return ringPath != null && ringTokenFile != null && Files.isRegularFile(ringPath)
                && Files.isRegularFile(ringTokenFile);
    }

    private static Path optionalPath(JsonNode json, String key) {
        String text = json.path(key).asString("");
        return text.isEmpty() ? null : Path.of(text);
    }

    /**
     * Whether this VM's QEMU is alive: the pid exists, is a qemu, and maps this VM's RAM file (so a recycled pid
     * does not count).
     */
    boolean running() {
        if (qemuPid <= 0) {
            return false;
        }
        Path proc = Path.of("/proc", Long.toString(qemuPid));
        try {
            String comm = Files.readString(proc.resolve("comm")).strip();
            if (!comm.startsWith("qemu")) {
                return false;
            }
            String cmdline = Files.readString(proc.resolve("cmdline")).replace('\0', ' ');
            return cmdline.contains(ramPath.toString());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static String required(JsonNode json, String key) throws IOException {
        JsonNode value = json.get(key);
        if (value == null || !value.isString() || value.asString().isEmpty()) {
            throw new IOException("meta.json lacks \"" + key + "\"");
        }
        return value.asString();
    }

    private static Instant instant(String text) {
        try {
            return text.isEmpty() ? null : Instant.parse(text);
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
