package dev.periscope.syscall;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.system.PeriscopeProperties;
import io.r2dbc.spi.ConnectionFactories;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.util.unit.DataSize;

/** The archive over a real (in-memory H2) database with the migration's table: bounded, and never past its reserve. */
class SyscallArchiveTest {

    @TempDir
    Path dir;

    private DatabaseClient db;

    @BeforeEach
    void table() throws IOException {
        db = DatabaseClient.create(ConnectionFactories.get("r2dbc:h2:mem:///archive-" + UUID.randomUUID()
                + ";DB_CLOSE_DELAY=-1"));
        String migration;
        try (var in = SyscallArchive.class.getResourceAsStream("/db/migration/V1__periscope.sql")) {
            migration = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        int start = migration.indexOf("CREATE TABLE syscall_event");
        db.sql(migration.substring(start, migration.indexOf(");", start) + 1)).then().block();
    }

    private SyscallArchive archive(long maxRows, String url, DataSize reserve) {
        return new SyscallArchive(db, properties(maxRows, reserve), url);
    }

    private static PeriscopeProperties properties(long maxRows, DataSize reserve) {
        return new PeriscopeProperties(Path.of("var"), null, 4, 256, false, null, null,
                new PeriscopeProperties.Archive(maxRows, Duration.ofHours(24), Duration.ofMinutes(1), reserve),
                null, null);
    }

    private static List<SyscallArchive.SyscallRecord> records(int n) {
        List<SyscallArchive.SyscallRecord> r = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            r.add(new SyscallArchive.SyscallRecord(Instant.now(), "acme", "vm@h", "s1", 0, 42, 0, i, 0, 0, 0, 0, 0, 0));
        }
        return r;
    }

    private long rows() {
        return db.sql("SELECT COUNT(*) AS n FROM syscall_event").map(row -> row.get("n", Long.class)).one().block();
    }

    @Test
    void retentionDeletesWhatIsBeyondTheRowLimitInBatches() {
        SyscallArchive archive = archive(1000, "", DataSize.ofBytes(0));
        archive.append(records(10)).block();
        db.sql("INSERT INTO syscall_event (occurred_at, tenant_id, vm_name, session_id, vcpu, pid, cr3, syscall_nr, "
                + "arg0, arg1, arg2, arg3, arg4, arg5) SELECT CURRENT_TIMESTAMP, 'acme', 'vm@h', 's1', 0, 42, 0, X + 9, "
                + "0, 0, 0, 0, 0, 0 FROM SYSTEM_RANGE(1, " + (2 * SyscallArchive.DELETE_BATCH + 1490) + ")")
                .then().block();
        assertThat(archive.enforceRetention().block()).isEqualTo(2 * SyscallArchive.DELETE_BATCH + 500);
        assertThat(rows()).isEqualTo(1000);
        assertThat(archive.recent("s1", 1).blockFirst().number()).as("the newest are kept")
                .isEqualTo(2 * SyscallArchive.DELETE_BATCH + 1499);
    }

    @Test
    void aDiskDownToItsReserveTakesNoRows() {
        String h2File = "r2dbc:h2:file:///" + dir.resolve("db/periscope") + ";DB_CLOSE_DELAY=-1";
        dir.resolve("db").toFile().mkdirs();
        SyscallArchive full = archive(1000, h2File, DataSize.ofTerabytes(1000));
        assertThatThrownBy(() -> full.append(records(3)).block()).isInstanceOf(ArchiveFullException.class)
                .hasMessageContaining("MiB free");
        assertThat(rows()).isZero();
        archive(1000, h2File, DataSize.ofBytes(0)).append(records(3)).block();
        assertThat(rows()).isEqualTo(3);
    }
}
