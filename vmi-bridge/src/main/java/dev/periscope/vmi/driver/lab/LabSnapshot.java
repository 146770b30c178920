package dev.periscope.vmi.driver.lab;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;

/**
 * A copy-on-write image of a lab guest's RAM: QEMU's background snapshot (userfaultfd write-protection, the
 * guest keeps running) written to a mapped-ram file, whose pages region is then mapped like live RAM.
 *
 * <p>Registers are read just before the migration starts, so they are only approximately consistent with the
 * frozen memory: RIP and the user CR3 may already have moved on by the freeze (a few ms later). What the engine
 * walks with, the kernel half of the page tables (swapper_pg_dir, shared by every process's PGD), and the
 * per-CPU GS base do not change, so kernel-address reads through these registers are consistent.
 */
final class LabSnapshot implements MemorySnapshot {

    private static final Logger log = LoggerFactory.getLogger(LabSnapshot.class);
    private static final String RAM_BLOCK = "mem"; // id of the memory-backend-file lab.sh gives QEMU
    private static final Duration MIGRATION_TIMEOUT = Duration.ofMinutes(2);

    private final Path file;
    private final MappedPhysicalMemory memory;
    private final String registerDump;
    private final Instant takenAt;
    private final Duration downtime;
    private final Duration totalTime;
    private volatile boolean closed;

    private LabSnapshot(Path file, MappedPhysicalMemory memory, String registerDump, Instant takenAt,
                        Duration downtime, Duration totalTime) {
        this.file = file;
        this.memory = memory;
        this.registerDump = registerDump;
        this.takenAt = takenAt;
        this.downtime = downtime;
        this.totalTime = totalTime;
    }

    static LabSnapshot take(QmpClient qmp, Path file) {
        long start = System.nanoTime();
        // background-snapshot refuses to start with multifd, postcopy, xbzrle, auto-converge and the like on;
        // lab guests never turn those on, so setting the two capabilities is enough.
        qmp.execute("migrate-set-capabilities", Map.of("capabilities", List.of(
                Map.of("capability", "background-snapshot", "state", true),
                Map.of("capability", "mapped-ram", "state", true))));
        try {
            Files.deleteIfExists(file);
            String registers = qmp.humanMonitor("info registers -a");
            Instant takenAt = Instant.now();
            qmp.execute("migrate", Map.of("uri", "file:" + file));
            JsonNode status = awaitMigration(qmp, file);
            // query-migrate's downtime: how long the vCPUs were stopped while device state was saved and RAM
            // write-protected; total-time: from migrate to the last page written.
            Duration downtime = Duration.ofMillis(status.path("downtime").asLong(0));
            MappedRamFile layout = MappedRamFile.read(file, RAM_BLOCK);
            MappedPhysicalMemory memory = MappedPhysicalMemory.map(file, layout.pagesOffset(), layout.length(),
                    layout.present(), layout.pageSize());
            Duration total = Duration.ofNanos(System.nanoTime() - start);
            log.debug("snapshot {}: downtime {} ms, QEMU total {} ms, ready after {}", file,
                    downtime.toMillis(), status.path("total-time").asLong(), total);
            return new LabSnapshot(file, memory, registers, takenAt, downtime, total);
        } catch (RuntimeException e) {
            delete(file);
            throw e;
        } catch (IOException e) {
            throw new PlatformUnavailableException("cannot prepare snapshot file " + file, e);
        }
    }

    private static JsonNode awaitMigration(QmpClient qmp, Path file) {
        long deadline = System.nanoTime() + MIGRATION_TIMEOUT.toNanos();
        while (true) {
            JsonNode status = qmp.execute("query-migrate");
            switch (status.path("status").asString("")) {
                case "completed" -> {
                    return status;
                }
                case "failed", "cancelled" -> throw new PlatformUnavailableException("snapshot to " + file
                        + " " + status.path("status").asString() + ": " + status.path("error-desc").asString(""));
                default -> {
                    if (System.nanoTime() > deadline) {
                        qmp.execute("migrate_cancel");
                        throw new PlatformUnavailableException("snapshot to " + file + " did not finish within "
                                + MIGRATION_TIMEOUT);
                    }
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        qmp.execute("migrate_cancel");
                        throw new PlatformUnavailableException("interrupted while taking a snapshot", e);
                    }
                }
            }
        }
    }

    @Override
    public PhysicalMemory memory() {
        if (closed) {
            throw new SessionClosedException("snapshot " + file + " is closed");
        }
        return memory;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        return RegisterDump.parse(registerDump, vcpu);
    }

    @Override
    public Instant takenAt() {
        return takenAt;
    }

    @Override
    public Duration guestDowntime() {
        return downtime;
    }

    @Override
    public Duration totalTime() {
        return totalTime;
    }

    /** Unmaps and deletes the file (readers of {@link #memory()} then see VmGoneException). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        memory.close();
        delete(file);
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("cannot delete snapshot file {}", file, e);
        }
    }

    @Override
    public String toString() {
        return "LabSnapshot[" + file + ", downtime " + downtime.toMillis() + " ms, total " + totalTime.toMillis()
                + " ms]";
    }
}
