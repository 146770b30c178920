package dev.periscope.syscall;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.syscall.SyscallArchive.SyscallRecord;
import dev.periscope.system.PeriscopeProperties;
import io.r2dbc.spi.ConnectionFactories;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.r2dbc.core.DatabaseClient;

/** The archive on a real database (H2 in memory, migrated by the server's own Flyway scripts). */
class SyscallArchiveTest {

    private SyscallArchive archive;

    @BeforeEach
    void database() {
        String name = "archive-" + UUID.randomUUID();
        Flyway.configure().dataSource("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1", "sa", "").load().migrate();
        DatabaseClient db = DatabaseClient.create(ConnectionFactories.get("r2dbc:h2:mem://sa@/" + name + ";DB_CLOSE_DELAY=-1"));
        PeriscopeProperties properties = new Binder(new MapConfigurationPropertySource(
                Map.of("periscope.archive.max-rows", "1500"))).bindOrCreate("periscope", PeriscopeProperties.class);
        archive = new SyscallArchive(db, properties);
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
        Instant now = Instant.now();
        for (int b = 0; b < 4; b++) {
            List<SyscallRecord> batch = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                batch.add(new SyscallRecord(now, "acme", "vm-1@h", "s-2", 0, b * 500 + i, 0, 0, 0, 0, 0, 0, 0, 0,
                        "NOT_TRACED", null, null, null, "getpid()"));
            }
            archive.append(batch).block();
        }
        assertThat(archive.enforceRetention().block()).isEqualTo(500L);
        List<SyscallRecord> kept = archive.recent("s-2", 5000).collectList().block();
        assertThat(kept).hasSize(1500);
        assertThat(kept.getLast().pid()).isEqualTo(500);
    }
}
