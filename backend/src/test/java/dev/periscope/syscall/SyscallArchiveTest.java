package dev.periscope.syscall;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.syscall.SyscallArchive.SyscallRecord;
import dev.periscope.system.PeriscopeProperties;
import io.r2dbc.spi.ConnectionFactories;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.r2dbc.core.DatabaseClient;

/**
 * The archive on a real database (H2 in memory, migrated by the server's own Flyway scripts): batches kept in order,
 * retention bounded and done in batches, and never past the reserve of an embedded database's disk.
 */
class SyscallArchiveTest {

    @TempDir
    Path dir;

    private DatabaseClient db;
    private SyscallArchive archive;

    @BeforeEach
    void database() {
        String name = "archive-" + UUID.randomUUID();
        Flyway.configure().dataSource("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1", "sa", "").load().migrate();
        db = DatabaseClient.create(ConnectionFactories.get("r2dbc:h2:mem://sa@/" + name + ";DB_CLOSE_DELAY=-1"));
        archive = archive(1500, "", "0B");
    }

    /** An archive over this test's database; {@code url} is where it believes the database lives (its disk). */
    private SyscallArchive archive(long maxRows, String url, String diskReserve) {
        PeriscopeProperties properties = new Binder(new MapConfigurationPropertySource(Map.of(
                "periscope.archive.max-rows", Long.toString(maxRows), "periscope.archive.disk-reserve", diskReserve)))
                .bindOrCreate("periscope", PeriscopeProperties.class);
        return new SyscallArchive(db, properties, url);
    }

    private static List<SyscallRecord> records(String session, int from, int n) {
        List<SyscallRecord> batch = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            batch.add(new SyscallRecord(Instant.now(), "acme", "vm-1@h", session, 0, i, 0, 0, 0, 0, 0, 0, 0, 0,
                    "NOT_TRACED", null, null, null, "getpid()"));
        }
        return batch;
    }

    private long rows() {
        return db.sql("SELECT COUNT(*) AS n FROM syscall_event").map(row -> row.get("n", Long.class)).one().block();
    }

    @Test
    void aBatchIsWrittenWholeOrNotAtAll() {
        // a batch given up is counted as not archived: none of it may be in the archive
        List<SyscallRecord> batch = records("s-1", 0, 99);
        batch.add(records("s-1-and-longer-than-the-column-takes-it", 99, 1).getFirst());

        assertThatThrownBy(() -> archive.append(batch).block()).isNotNull();

        assertThat(rows()).isZero();
        archive.append(batch.subList(0, 99)).block();
        assertThat(rows()).isEqualTo(99);
    }

    @Test
    void aBatchIsAppendedInOrderWithEveryField() {
        List<SyscallRecord> batch = new ArrayList<>();
        Instant t0 = Instant.parse("2026-12-07T00:00:00Z");
        for (int i = 0; i < 1000; i++) {
            batch.add(new SyscallRecord(t0.plusMillis(i), i % 2 == 0 ? "acme" : "globex", "vm-1@h", "s-1", i % 4, 300 + i,
                    0x1000L * i, i % 450, i, -1, Long.MAX_VALUE, Long.MIN_VALUE, 5, 6, i % 3 == 0 ? "UNFINISHED" : "RETURNED",
                    i % 3 == 0 ? null : (long) -i, i % 3 == 1 ? "ENOENT" : null, i % 3 == 0 ? null : 1000L + i,
                    "read(" + i + ", ...)"));
        }
        archive.append(batch).block();

        List<SyscallRecord> back = archive.recent("s-1", 2000).collectList().block();
        assertThat(back).hasSize(1000);
        assertThat(back.reversed()).isEqualTo(batch);
    }

    @Test
    void aDecodedLineLongerThanItsColumnIsCut() {
        SyscallRecord longLine = new SyscallRecord(Instant.parse("2026-12-07T00:00:00Z"), "acme", "vm-1@h", "s-3", 0, 1,
                0, 1, 1, 0, 0, 0, 0, 0, "RETURNED", 5000L, null, 10L, "write(1, \"" + "x".repeat(5000) + "\", 5000)");
        archive.append(List.of(longLine)).block();
        assertThat(archive.recent("s-3", 1).blockFirst().text())
                .hasSize(SyscallArchive.MAX_TEXT).isEqualTo(longLine.text().substring(0, SyscallArchive.MAX_TEXT));
    }

    @Test
    void retentionKeepsTheNewestRowsWithinTheLimit() {
        for (int b = 0; b < 4; b++) {
            archive.append(records("s-2", b * 500, 500)).block();
        }
        assertThat(archive.enforceRetention().block()).isEqualTo(500L);
        List<SyscallRecord> kept = archive.recent("s-2", 5000).collectList().block();
        assertThat(kept).hasSize(1500);
        assertThat(kept.getLast().pid()).isEqualTo(500);
    }

    @Test
    void retentionDeletesMoreThanOneBatchInBatches() {
        SyscallArchive small = archive(1000, "", "0B");
        int total = 2 * SyscallArchive.DELETE_BATCH + 1500;
        for (int from = 0; from < total; from += 5000) {
            small.append(records("s-3", from, Math.min(5000, total - from))).block();
        }
        assertThat(small.enforceRetention().block()).isEqualTo(2L * SyscallArchive.DELETE_BATCH + 500);
        assertThat(rows()).isEqualTo(1000);
        assertThat(small.recent("s-3", 1).blockFirst().pid()).as("the newest are kept").isEqualTo(total - 1);
    }

    @Test
    void aDiskDownToItsReserveTakesNoRows() {
        String h2File = "r2dbc:h2:file:///" + dir.resolve("periscope") + ";DB_CLOSE_DELAY=-1";
        SyscallArchive full = archive(1000, h2File, "1000TB");
        assertThatThrownBy(() -> full.append(records("s-4", 0, 3)).block()).isInstanceOf(ArchiveFullException.class)
                .hasMessageContaining("MiB free");
        assertThat(rows()).isZero();
        archive(1000, h2File, "0B").append(records("s-4", 0, 3)).block();
        assertThat(rows()).isEqualTo(3);
    }
}
