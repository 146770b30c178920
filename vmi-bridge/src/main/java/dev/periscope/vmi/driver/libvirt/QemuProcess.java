package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.memory.ProcessMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * The QEMU process of a running libvirt domain on this host: its pid from libvirt's pid file, confirmed by the
 * domain's UUID on the process's command line (libvirt passes {@code -uuid}), and its start time, which tells one
 * boot of the domain from the next.
 */
record QemuProcess(long pid, long startTicks, Instant startedAt) {

    /** Clock ticks per second of /proc's start times (USER_HZ, 100 on every x86-64 Linux). */
    private static final long TICKS_PER_SECOND = 100;
    private static volatile Long bootEpochSeconds;

    /** The domain's QEMU process, or empty when this host runs none for it (not running, or a remote URI). */
    static Optional<QemuProcess> find(Path stateDir, String name, String uuid) {
        if (name.isEmpty() || name.contains("/") || name.startsWith(".")) {
            return Optional.empty();
        }
        try {
            long pid = Long.parseLong(Files.readString(stateDir.resolve(name + ".pid")).strip());
            String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
            if (!cmdline.contains(" -uuid " + uuid + " ")) {
                return Optional.empty(); // a stale pid file whose pid now belongs to another process
            }
            long ticks = ProcessMemory.startTicks(pid);
            return Optional.of(new QemuProcess(pid, ticks,
                    Instant.ofEpochSecond(bootEpochSeconds()).plusMillis(ticks * 1000 / TICKS_PER_SECOND)));
        } catch (IOException | NumberFormatException | VmGoneException e) {
            return Optional.empty();
        }
    }

    /**
     * When this host booted, read once: /proc/stat's btime may differ by a second between reads, and a start time
     * that moved would look like a new boot of the domain.
     */
    private static long bootEpochSeconds() throws IOException {
        Long known = bootEpochSeconds;
        if (known == null) {
            known = Files.readAllLines(Path.of("/proc/stat")).stream().filter(l -> l.startsWith("btime "))
                    .map(l -> Long.parseLong(l.substring(6).strip())).findFirst()
                    .orElseThrow(() -> new IOException("/proc/stat has no btime"));
            bootEpochSeconds = known;
        }
        return known;
    }
}
