package dev.periscope.vmi.driver.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.linux.GuestProcView;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.ProcessList;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Memory images of a real lab guest: while it is stopped, QEMU's monitor writes an ELF core
 * ({@code dump-guest-memory}), a flat RAM dump ({@code pmemsave}) and a mapped-ram migration file; each, served from
 * an image directory, lists the processes the guest's /proc showed around the dump. Boots a guest named imgdump;
 * skipped with -Dperiscope.lab.skip=true. The ELF core is kept in target/image-lab for `./periscope test`.
 */
class ImageLabTest {

    private static final Duration MONITOR = Duration.ofMinutes(2);
    private static final long MEMORY_MIB = 384;
    /** The ELF core, kept where `./periscope test` finds it (the module's target directory). */
    private static final Path KEPT_CORE = Path.of("target", "image-lab", "core.elf").toAbsolutePath();

    @Test
    void dumpsOfALabGuestListTheGuestsProcesses(@TempDir Path dir) throws Exception {
        LabVm.assumeLabEnabled();
        try (LabVm guest = LabVm.start("imgdump", "--workload", "busy", "--memory", Long.toString(MEMORY_MIB))) {
            Map<Integer, GuestProcView.Seen> before = guestView(guest);
            guest.monitor("stop", MONITOR);
            try {
                guest.monitor("dump-guest-memory " + dir.resolve("core.elf"), MONITOR);
                guest.monitor("pmemsave 0 " + (MEMORY_MIB << 20) + " \"" + dir.resolve("ram.raw") + "\"", MONITOR);
                guest.monitor("migrate_set_capability mapped-ram on", MONITOR);
                guest.monitor("migrate -d \"file:" + dir.resolve("snapshot.qemu") + "\"", MONITOR);
                awaitMigration(guest);
            } finally {
                guest.monitor("migrate_set_capability mapped-ram off", MONITOR);
                guest.monitor("cont", MONITOR);
            }
            Map<Integer, GuestProcView.Seen> after = guestView(guest);

            Map<String, ProcessList> lists = new HashMap<>();
            try (MemoryImageDriver driver = MemoryImageDriver.over(new ImageDirectory(dir, RawLayout.FLAT));
                 VmiEngine engine = new VmiEngine(driver)) {
                assertThat(driver.domains()).extracting(DomainInfo::name).containsExactly("core", "ram", "snapshot");
                assertThat(driver.domains()).allSatisfy(d -> assertThat(d.platform()).isEqualTo("image"));
                for (String vm : new String[] {"core", "ram", "snapshot"}) {
                    ProcessList list = engine.processes(vm, AcquisitionMode.SNAPSHOT);
                    lists.put(vm, list);
                    int compared = GuestProcView.compare(vm, AcquisitionMode.SNAPSHOT, before, after, list);
                    System.out.printf("[imgdump] %s: %d processes (%d compared with /proc), read %.2f ms%n", vm,
                            list.processes().size(), compared, list.readTime().toNanos() / 1e6);
                }
                try (Domain core = driver.open("core")) {
                    assertThat(core.capabilities()).contains(Capability.VCPU_REGISTERS);
                    assertThat(core.registers(0).cr3()).as("the ELF core's QEMU note holds CR3").isNotZero();
                    assertThat(core.memory().size()).isGreaterThanOrEqualTo(MEMORY_MIB << 20);
                    assertThatThrownBy(core::pause).isInstanceOf(PlatformUnavailableException.class)
                            .hasMessageContaining("memory image");
                }
                try (Domain ram = driver.open("ram")) {
                    assertThat(ram.capabilities()).doesNotContain(Capability.VCPU_REGISTERS);
                    assertThatThrownBy(() -> ram.registers(0)).isInstanceOf(PlatformUnavailableException.class)
                            .hasMessageContaining("no registers");
                }
            }
            try (MemoryImage image = MemoryImage.open(dir.resolve("core.elf"))) {
                System.out.println("[imgdump] core.elf: " + image.describe());
                assertThat(image.format()).isEqualTo(ImageFormat.ELF_CORE);
            }
            try (MemoryImage image = MemoryImage.open(dir.resolve("snapshot.qemu"))) {
                System.out.println("[imgdump] snapshot.qemu: " + image.describe());
                assertThat(image.format()).isEqualTo(ImageFormat.QEMU_MAPPED_RAM);
                assertThat(image.layout().ramBytes()).isEqualTo(MEMORY_MIB << 20);
            }
            theCommandListsWhatTheEngineListed(dir.resolve("core.elf"), lists.get("core"), dir.resolve("profiles"));
            // Kept for ./periscope test, which lists it through the launcher's `ps --image` after the build.
            Files.createDirectories(KEPT_CORE.getParent());
            Files.copy(dir.resolve("core.elf"), KEPT_CORE, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * {@code ps --image}: a never-seen kernel is decoded and stored, a second process lists from the stored profile;
     * both print the processes the engine listed.
     */
    private static void theCommandListsWhatTheEngineListed(Path image, ProcessList expected, Path profiles)
            throws IOException {
        List<Integer> pids = expected.processes().stream().map(GuestProcess::pid).toList();
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ImageCommand cold = new ImageCommand(new PrintStream(table, true, UTF_8), new PrintStream(err, true, UTF_8));
        assertThat(cold.run(List.of("--image", image.toString()), profiles)).as(err.toString(UTF_8)).isZero();
        assertThat(table.toString(UTF_8)).startsWith("# " + image + "  kernel " + expected.kernelVersion());
        assertThat(table.toString(UTF_8).lines().filter(l -> l.matches(" *\\d+ +\\d+ .*"))
                .map(l -> Integer.parseInt(l.trim().split(" +")[0]))).containsExactlyElementsOf(pids);
        try (Stream<Path> stored = Files.list(profiles)) {
            assertThat(stored).as("the decoded kernel, stored").singleElement()
                    .satisfies(f -> assertThat(f.getFileName().toString()).endsWith(".kprofile"));
        }

        ByteArrayOutputStream json = new ByteArrayOutputStream();
        ImageCommand seen = new ImageCommand(new PrintStream(json, true, UTF_8), new PrintStream(err, true, UTF_8));
        assertThat(seen.run(List.of("--image", image.toString(), "--json"), profiles)).as(err.toString(UTF_8))
                .isZero();
        JsonNode listed = JsonMapper.builder().build().readTree(json.toString(UTF_8));
        assertThat(listed.valueStream().map(p -> p.get("pid").asInt())).containsExactlyElementsOf(pids);
        assertThat(listed.valueStream().map(p -> p.get("name").asString()))
                .containsExactlyElementsOf(expected.processes().stream().map(GuestProcess::name).toList());
    }

    private static void awaitMigration(LabVm guest) throws InterruptedException {
        Instant deadline = Instant.now().plus(MONITOR);
        String status = "";
        while (Instant.now().isBefore(deadline)) {
            status = guest.monitor("info migrate", MONITOR);
            if (status.contains("completed")) {
                return;
            }
            assertThat(status).as("migration to a file").doesNotContain("failed");
            Thread.sleep(200);
        }
        throw new AssertionError("migration to a file did not complete: " + status);
    }

    private static Map<Integer, GuestProcView.Seen> guestView(LabVm guest) {
        LabVm.Result view = guest.exec("sh", "-c", GuestProcView.SCRIPT);
        assertThat(view.exitCode()).as("guest /proc reading failed: %s", view.output()).isZero();
        return GuestProcView.parse(view.output());
    }
}
