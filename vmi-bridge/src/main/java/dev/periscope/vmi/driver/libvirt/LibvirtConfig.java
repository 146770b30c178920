package dev.periscope.vmi.driver.libvirt;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Where the libvirt platform finds its domains.
 *
 * @param uri         libvirt connection URI; the QEMU processes must run on this host (their RAM is read here)
 * @param stateDir    where libvirt's QEMU driver writes {@code NAME.pid} for each running domain
 * @param snapshotDir where copy-on-write snapshot files are written (QEMU gets a descriptor, not the path); a
 *                    tmpfs keeps them off the disk, each is deleted when its process list is done
 */
public record LibvirtConfig(String uri, Path stateDir, Path snapshotDir) {

    public static final String SYSTEM_URI = "qemu:///system";
    public static final Path SYSTEM_STATE_DIR = Path.of("/run/libvirt/qemu");
    /** The sockets a local libvirt answers on (monolithic libvirtd, or the modular QEMU daemon). */
    private static final List<Path> SYSTEM_SOCKETS = List.of(Path.of("/run/libvirt/libvirt-sock"),
            Path.of("/run/libvirt/virtqemud-sock"));

    public LibvirtConfig {
        Objects.requireNonNull(uri, "uri");
        if (uri.isBlank() || uri.chars().anyMatch(Character::isWhitespace) || !uri.contains(":")) {
            throw new IllegalArgumentException("not a libvirt URI: \"" + uri + "\"");
        }
        for (Path dir : new Path[] {stateDir, snapshotDir}) {
            if (dir == null || !dir.isAbsolute()) {
                throw new IllegalArgumentException("libvirt state and snapshot directories must be absolute paths, "
                        + "got " + dir);
            }
        }
    }

    /** {@code qemu:///system}, its state directory, snapshots in /dev/shm. */
    public static LibvirtConfig system() {
        return new LibvirtConfig(SYSTEM_URI, SYSTEM_STATE_DIR, Path.of("/dev/shm"));
    }

    /** Whether a system libvirt daemon listens on this host (its socket exists). */
    public static boolean systemDaemonPresent() {
        return SYSTEM_SOCKETS.stream().anyMatch(Files::exists);
    }
}
