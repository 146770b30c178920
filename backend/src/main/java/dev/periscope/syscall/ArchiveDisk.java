package dev.periscope.syscall;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.springframework.util.unit.DataSize;

/**
 * The disk the archive's rows land on when the database is this machine's embedded H2 file, and the free space the
 * archive leaves on it: H2 does not survive a disk that fills up under it (its file is left corrupt, every table
 * lost), and the archive is the one writer that could fill it. With PostgreSQL there is no local disk to watch: a full
 * disk fails the database's own writes, cleanly.
 */
final class ArchiveDisk {

    private static final String H2_FILE = "r2dbc:h2:file:";

    private final Path directory;
    private final long reserve;

    private ArchiveDisk(Path directory, long reserve) {
        this.directory = directory;
        this.reserve = reserve;
    }

    /** The disk of the database {@code r2dbcUrl} names (none when it is not an H2 file), with {@code reserve} left. */
    static ArchiveDisk of(String r2dbcUrl, DataSize reserve) {
        if (r2dbcUrl == null || !r2dbcUrl.startsWith(H2_FILE)) {
            return new ArchiveDisk(null, 0);
        }
        String file = r2dbcUrl.substring(H2_FILE.length()).replaceFirst("^//", "");
        int options = file.indexOf(';');
        Path database = Path.of(options < 0 ? file : file.substring(0, options)).toAbsolutePath();
        return new ArchiveDisk(database.getParent(), reserve.toBytes());
    }

    /** The directory watched, empty when the database is not a local file. */
    Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /** Why the archive must not write now (its disk is down to the reserve), or empty. */
    Optional<String> full() {
        if (directory == null) {
            return Optional.empty();
        }
        long free;
        try {
            free = Files.getFileStore(directory).getUsableSpace();
        } catch (IOException e) {
            return Optional.of("the archive's disk cannot be read: " + e.getMessage());
        }
        return free >= reserve ? Optional.empty() : Optional.of("its disk has " + (free >> 20) + " MiB free, less than "
                + "the " + (reserve >> 20) + " MiB the database keeps");
    }
}
