package dev.periscope.vmi.driver.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.DomainInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Listing from run directories, without any VM running. */
class LabDriverTest {

    @TempDir
    Path var;

    @Test
    void listsVmsFromTheirMetadata() throws IOException {
        writeMeta("lxcore-b", "acme", 999_999_999L);
        writeMeta("lxcore-a", "default", ProcessHandle.current().pid());
        Files.createDirectories(var.resolve("lab/empty-dir"));
        Files.createDirectories(var.resolve("lab/broken"));
        Files.writeString(var.resolve("lab/broken/meta.json"), "{not json");
        var driver = new LabDriver(var);
        assertThat(driver.domains()).extracting(DomainInfo::name).containsExactly("lxcore-a", "lxcore-b");
        DomainInfo b = driver.domain("lxcore-b").orElseThrow();
        assertThat(b.tenant()).isEqualTo("acme");
        assertThat(b.memoryBytes()).isEqualTo(512L << 20);
        assertThat(b.kernelVersion()).isEqualTo("6.1.0-56-amd64");
        assertThat(b.startedAt()).isEqualTo(Instant.parse("2026-01-02T03:04:05Z"));
        assertThat(b.running()).as("no such pid").isFalse();
        // A live pid that is not a qemu with this VM's RAM does not count as running.
        assertThat(driver.domain("lxcore-a").orElseThrow().running()).isFalse();
        assertThatThrownBy(() -> driver.open("lxcore-b")).isInstanceOf(VmGoneException.class);
        assertThatThrownBy(() -> driver.open("../etc")).isInstanceOf(VmGoneException.class);
        assertThat(driver.domain("missing")).isEmpty();
        assertThat(new LabDriver(var.resolve("absent")).domains()).isEmpty();
    }

    /** A run directory as lab.sh start leaves it, written by the lab's own writer (lab/lib/meta.sh). */
    private void writeMeta(String name, String tenant, long pid) throws IOException {
        Path dir = Files.createDirectories(var.resolve("lab").resolve(name));
        LabMetaScript.writeVm(dir, Map.ofEntries(
                Map.entry("name", name),
                Map.entry("tenant", tenant),
                Map.entry("memoryMib", "512"),
                Map.entry("kernelVersion", "6.1.0-56-amd64"),
                Map.entry("kernelPackage", "linux-image-6.1.0-56-amd64-unsigned"),
                Map.entry("workload", "busy"),
                Map.entry("kaslr", "true"),
                Map.entry("ramPath", "/dev/shm/periscope-" + name + ".mem"),
                Map.entry("qmpSocket", dir + "/qmp.sock"),
                Map.entry("shellSocket", dir + "/shell.sock"),
                Map.entry("qemuPid", Long.toString(pid)),
                Map.entry("startedAt", "2026-01-02T03:04:05Z"),
                Map.entry("events", "off: PERISCOPE_LAB_EVENTS=off"),
                Map.entry("bootSeconds", "9.8")));
    }
}
