package dev.periscope.syscall;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.util.unit.DataSize;

/** The archive's disk: watched only for the embedded H2 file, full below the reserve. */
class ArchiveDiskTest {

    @TempDir
    Path dir;

    @Test
    void theEmbeddedDatabasesDirectoryIsWatchedAndFullBelowTheReserve() {
        String url = "r2dbc:h2:file:///" + dir.resolve("db/periscope") + ";DB_CLOSE_DELAY=-1";
        dir.resolve("db").toFile().mkdirs();
        assertThat(ArchiveDisk.of(url, DataSize.ofMegabytes(1)).directory()).contains(dir.resolve("db"));
        assertThat(ArchiveDisk.of(url, DataSize.ofBytes(0)).full()).isEmpty();
        assertThat(ArchiveDisk.of(url, DataSize.ofTerabytes(1000)).full()).hasValueSatisfying(why ->
                assertThat(why).contains("MiB free, less than the 1048576000 MiB the database keeps"));
    }

    @Test
    void aDatabaseElsewhereHasNoDiskHere() {
        ArchiveDisk postgres = ArchiveDisk.of("r2dbc:postgresql://db:5432/periscope", DataSize.ofTerabytes(1000));
        assertThat(postgres.directory()).isEmpty();
        assertThat(postgres.full()).isEmpty();
    }
}
