package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.memory.RamLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;

/**
 * A copy-on-write image of a QEMU guest's RAM: QEMU's background snapshot (userfaultfd write-protection, the guest
 * keeps running) written to a mapped-ram file, whose RAM blocks are then mapped and laid out like live RAM.
 *
 * <p>Registers are read just before the migration starts, so they are only approximately consistent with the
 * frozen memory: RIP and the user CR3 may already have moved on by the freeze (a few ms later). What the engine
 * walks with, the kernel half of the page tables (swapper_pg_dir, shared by every process's PGD), and the
 * per-CPU GS base do not change, so kernel-address reads through these registers are consistent.
 *
 * <p>The migration capabilities it turns on are turned off again afterwards, so the VM's own migrations (a
 * manager such as libvirt sets what it needs) find QEMU as before.
 */
public final class QemuSnapshot implements MemorySnapshot {

    private static final Logger log = LoggerFactory.getLogger(QemuSnapshot.class);
    private static final Duration MIGRATION_TIMEOUT = Duration.ofMinutes(2);
    /** How long QEMU may take to wind up a finished migration before it accepts the next. */
    private static final Duration CLEANUP_TIMEOUT = Duration.ofSeconds(5);
    private static final String BACKGROUND_SNAPSHOT = "background-snapshot";

    private final Path file;
    private final List<MappedPhysicalMemory> mappings;
    private final PhysicalMemory memory;
    private final String registerDump;
    private final Instant takenAt;
    private final Duration downtime;
    private final Duration totalTime;
    private volatile boolean closed;

    private QemuSnapshot(Path file, List<MappedPhysicalMemory> mappings, PhysicalMemory memory, String registerDump,
                         Instant takenAt, Duration downtime, Duration totalTime) {
        this.file = file;
        this.mappings = mappings;
        this.memory = memory;
        this.registerDump = registerDump;
        this.takenAt = takenAt;
        this.downtime = downtime;
        this.totalTime = totalTime;
    }

    /**
     * Why this QEMU cannot take background snapshots, in its own words; empty when it can. It cannot when it may not
     * use userfaultfd's write protection (an unprivileged QEMU, libvirt's default user) or when guest RAM is a file
     * on a disk filesystem. Asks by switching the capability on and off again.
     */
    public static Optional<String> unavailable(QemuMonitor monitor) {
        try {
            setCapabilities(monitor, true, BACKGROUND_SNAPSHOT);
        } catch (PlatformUnavailableException e) {
            return Optional.of(e.getMessage());
        }
        setCapabilities(monitor, false, BACKGROUND_SNAPSHOT);
        return Optional.empty();
    }

    /**
     * Takes a snapshot into {@code file}, which QEMU writes through {@code migrationUri} ({@code "file:" + file}
     * when QEMU may open it itself, {@code file:/dev/fdset/N} for a descriptor handed to it), and lays it out
     * with {@code layout}, the live guest's. Deletes the file when it fails.
     */
    public static QemuSnapshot take(QemuMonitor monitor, Path file, String migrationUri, RamLayout layout) {
        long start = System.nanoTime();
        // background-snapshot refuses to start with multifd, postcopy, xbzrle, auto-converge and the like on;
        // nothing Periscope drives turns those on, so setting the two capabilities is enough.
        whenMigrationIdle(() -> setCapabilities(monitor, true, BACKGROUND_SNAPSHOT, "mapped-ram"));
        List<MappedPhysicalMemory> mappings = new ArrayList<>();
        try {
            String registers = monitor.humanMonitor("info registers -a");
            Instant takenAt = Instant.now();
            whenMigrationIdle(() -> monitor.execute("migrate", Map.of("uri", migrationUri)));
            JsonNode status = awaitMigration(monitor, file);
            // query-migrate's downtime: how long the vCPUs were stopped while device state was saved and RAM
            // write-protected; total-time: from migrate to the last page written.
            Duration downtime = Duration.ofMillis(status.path("downtime").asLong(0));
            Map<String, PhysicalMemory> blocks = new LinkedHashMap<>();
            for (RamLayout.Block block : layout.blocks()) {
                MappedRamFile saved = MappedRamFile.read(file, block.name());
                if (saved.length() != block.length()) {
                    throw new PlatformUnavailableException("snapshot file " + file + ": block " + block.name()
                            + " holds " + saved.length() + " bytes, the guest's " + block.length());
                }
                MappedPhysicalMemory mapped = MappedPhysicalMemory.map(file, saved.pagesOffset(), saved.length(),
                        saved.present(), saved.pageSize());
                mappings.add(mapped);
                blocks.put(block.name(), mapped);
            }
            Duration total = Duration.ofNanos(System.nanoTime() - start);
            log.debug("snapshot {}: downtime {} ms, QEMU total {} ms, ready after {}", file,
                    downtime.toMillis(), status.path("total-time").asLong(), total);
            return new QemuSnapshot(file, List.copyOf(mappings), layout.assemble(blocks), registers, takenAt,
                    downtime, total);
        } catch (RuntimeException e) {
            mappings.forEach(MappedPhysicalMemory::close);
            delete(file);
            throw e;
        } finally {
            try {
                whenMigrationIdle(() -> setCapabilities(monitor, false, BACKGROUND_SNAPSHOT, "mapped-ram"));
            } catch (RuntimeException e) {
                log.warn("cannot turn the snapshot capabilities off again after {}: {}", file, e.getMessage());
            }
        }
    }

    private static void setCapabilities(QemuMonitor monitor, boolean state, String... capabilities) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (String c : capabilities) {
            list.add(Map.of("capability", c, "state", state));
        }
        monitor.execute("migrate-set-capabilities", Map.of("capabilities", list));
    }

    /**
     * Runs {@code command}, again while QEMU still winds up the previous migration: after query-migrate says
     * "completed" (or "cancelled") QEMU cleans up in the background, and until then it refuses a new migration or a
     * capability change ("migration process in progress", "duplicate yank instance"). Bounded.
     */
    private static void whenMigrationIdle(Runnable command) {
        long deadline = System.nanoTime() + CLEANUP_TIMEOUT.toNanos();
        while (true) {
            try {
                command.run();
                return;
            } catch (PlatformUnavailableException e) {
                String why = String.valueOf(e.getMessage());
                boolean busy = why.contains("migration process in progress") || why.contains("duplicate yank instance");
                if (!busy || System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private static JsonNode awaitMigration(QemuMonitor monitor, Path file) {
        long deadline = System.nanoTime() + MIGRATION_TIMEOUT.toNanos();
        while (true) {
            JsonNode status = monitor.execute("query-migrate");
            switch (status.path("status").asString("")) {
                case "completed" -> {
                    return status;
                }
                case "failed", "cancelled" -> throw new PlatformUnavailableException("snapshot to " + file
                        + " " + status.path("status").asString() + ": " + status.path("error-desc").asString(""));
                default -> {
                    if (System.nanoTime() > deadline) {
                        monitor.execute("migrate_cancel");
                        throw new PlatformUnavailableException("snapshot to " + file + " did not finish within "
                                + MIGRATION_TIMEOUT);
                    }
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        monitor.execute("migrate_cancel");
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
        mappings.forEach(MappedPhysicalMemory::close);
        delete(file);
    }

    /** Deletes a snapshot file, logging rather than failing when it cannot. */
    public static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("cannot delete snapshot file {}", file, e);
        }
    }

    @Override
    public String toString() {
        return "QemuSnapshot[" + file + ", downtime " + downtime.toMillis() + " ms, total " + totalTime.toMillis()
                + " ms]";
    }
}
