package dev.periscope.syscall;

import dev.periscope.system.PeriscopeProperties;
import dev.periscope.system.Sql;
import io.r2dbc.spi.Result;
import io.r2dbc.spi.Statement;
import java.time.Instant;
import java.util.List;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.scheduling.annotation.SchedulingConfigurer;
import org.springframework.scheduling.config.FixedDelayTask;
import org.springframework.scheduling.config.ScheduledTaskRegistrar;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Archives syscall records (the session runner calls {@link #append}: raw argument registers, how the call ended,
 * the decoded strace-like line) and keeps the archive bounded: a retention job deletes records older than
 * {@code periscope.archive.retention} and the oldest beyond {@code periscope.archive.max-rows}, and on the embedded
 * database it never takes the last {@code periscope.archive.disk-reserve} of its disk ({@link ArchiveDisk}).
 */
@Component
public class SyscallArchive implements SchedulingConfigurer {

    static final int DELETE_BATCH = 10_000;

    /** Columns of a record, in the order {@link #bind} binds them. */
    private static final String COLUMNS = "occurred_at, tenant_id, vm_name, session_id, vcpu, pid, cr3, syscall_nr, "
            + "arg0, arg1, arg2, arg3, arg4, arg5, status, return_value, errno, duration_ns, call_text";
    private static final int COLUMN_COUNT = 19;

    /** Longest decoded line kept (the column's size). */
    static final int MAX_TEXT = 2048;

    private final DatabaseClient db;
    private final PeriscopeProperties.Archive limits;
    private final ArchiveDisk disk;

    SyscallArchive(DatabaseClient db, PeriscopeProperties properties, @Value("${spring.r2dbc.url:}") String url) {
        this.db = db;
        this.limits = properties.archive();
        this.disk = ArchiveDisk.of(url, limits.diskReserve());
    }

    /**
     * One syscall of a traced process: its raw argument registers, how it ended and the decoded strace-like line.
     *
     * @param status      RETURNED, UNFINISHED, NO_RETURN or NOT_TRACED
     * @param returnValue RETURNED: the return value; null otherwise
     * @param errno       RETURNED with a failure: the error's name; null otherwise
     * @param durationNs  RETURNED: from entry to return; null otherwise
     * @param text        the decoded line (cut at {@link #MAX_TEXT} characters)
     */
    public record SyscallRecord(Instant at, String tenant, String vm, String session, int vcpu, int pid, long cr3,
                                int number, long arg0, long arg1, long arg2, long arg3, long arg4, long arg5,
                                String status, Long returnValue, String errno, Long durationNs, String text) {
    }

    /**
     * Appends records in order, as one batch of one statement (parsed once, one round trip per batch rather than per
     * row: the archive keeps up with a busy trace); fails with {@link ArchiveFullException} (writing nothing) while
     * the embedded database's disk is down to its reserve.
     */
    public Mono<Void> append(List<SyscallRecord> records) {
        if (records.isEmpty()) {
            return Mono.empty();
        }
        return Mono.defer(() -> disk.full().<Mono<Void>>map(why -> Mono.error(new ArchiveFullException(why)))
                .orElseGet(() -> insert(records)));
    }

    /**
     * One statement for the whole batch, so that it is written whole or not at all: a batch given up (its write timed
     * out, the database went away) is counted as not archived, and rows of it written one by one would be counted too.
     */
    private Mono<Void> insert(List<SyscallRecord> records) {
        return db.inConnection(connection -> {
            Statement insert = connection.createStatement(insertOf(records.size()));
            for (int i = 0; i < records.size(); i++) {
                bind(insert, i * COLUMN_COUNT, records.get(i));
            }
            return Flux.from(insert.execute()).flatMap(Result::getRowsUpdated).then();
        });
    }

    /** An INSERT of {@code rows} rows, placeholders in the drivers' own syntax ($n: H2's and PostgreSQL's take it). */
    private static String insertOf(int rows) {
        StringBuilder sql = new StringBuilder("INSERT INTO syscall_event (" + COLUMNS + ") VALUES ");
        for (int row = 0; row < rows; row++) {
            sql.append(row == 0 ? "(" : ", (");
            for (int column = 1; column <= COLUMN_COUNT; column++) {
                sql.append(column == 1 ? "$" : ", $").append(row * COLUMN_COUNT + column);
            }
            sql.append(')');
        }
        return sql.toString();
    }

    /** Binds {@code r} to the placeholders from index {@code at} (0-based) on. */
    private static void bind(Statement insert, int at, SyscallRecord r) {
        insert.bind(at, Sql.utc(r.at())).bind(at + 1, r.tenant()).bind(at + 2, r.vm()).bind(at + 3, r.session())
                .bind(at + 4, r.vcpu()).bind(at + 5, r.pid()).bind(at + 6, r.cr3()).bind(at + 7, r.number())
                .bind(at + 8, r.arg0()).bind(at + 9, r.arg1()).bind(at + 10, r.arg2()).bind(at + 11, r.arg3())
                .bind(at + 12, r.arg4()).bind(at + 13, r.arg5()).bind(at + 14, r.status());
        bindNullable(insert, at + 15, r.returnValue(), Long.class);
        bindNullable(insert, at + 16, r.errno(), String.class);
        bindNullable(insert, at + 17, r.durationNs(), Long.class);
        insert.bind(at + 18, r.text().length() > MAX_TEXT ? r.text().substring(0, MAX_TEXT) : r.text());
    }

    private static void bindNullable(Statement insert, int index, Object value, Class<?> type) {
        if (value == null) {
            insert.bindNull(index, type);
        } else {
            insert.bind(index, value);
        }
    }

    /** The newest records of a session, newest first. */
    public Flux<SyscallRecord> recent(String session, int limit) {
        return db.sql("SELECT * FROM syscall_event WHERE session_id = :s ORDER BY id DESC LIMIT " + Math.max(1, limit))
                .bind("s", session)
                .map(row -> new SyscallRecord(Sql.instant(row, "occurred_at"), row.get("tenant_id", String.class),
                        row.get("vm_name", String.class), row.get("session_id", String.class), Sql.integer(row, "vcpu"),
                        Sql.integer(row, "pid"), Sql.longValue(row, "cr3"), Sql.integer(row, "syscall_nr"),
                        Sql.longValue(row, "arg0"), Sql.longValue(row, "arg1"), Sql.longValue(row, "arg2"),
                        Sql.longValue(row, "arg3"), Sql.longValue(row, "arg4"), Sql.longValue(row, "arg5"),
                        row.get("status", String.class), row.get("return_value", Long.class),
                        row.get("errno", String.class), row.get("duration_ns", Long.class),
                        row.get("call_text", String.class)))
                .all();
    }

    /** Deletes what is past retention or beyond the row limit; returns how many rows went. */
    public Mono<Long> enforceRetention() {
        Mono<Long> old = deleteInBatches("occurred_at < :cut", Sql.utc(Instant.now().minus(limits.retention())));
        Mono<Long> excess = db.sql("SELECT MAX(id) AS top FROM syscall_event").map(row -> Sql.longValue(row, "top")).one()
                .flatMap(top -> deleteInBatches("id <= :cut", top - limits.maxRows()));
        return old.flatMap(n -> excess.defaultIfEmpty(0L).map(m -> n + m));
    }

    /**
     * Deletes the rows {@code condition} (over {@code :cut}) selects, at most {@value #DELETE_BATCH} a statement: one
     * delete of a million rows grows an embedded database's file by more than its disk may hold before it frees any.
     * Each batch is a range of the key (up to the id of its last row), which both databases delete without a scan
     * per row.
     */
    private Mono<Long> deleteInBatches(String condition, Object cut) {
        Mono<Long> batch = Mono.defer(() -> db.sql("SELECT MAX(id) AS last FROM (SELECT id FROM syscall_event WHERE "
                        + condition + " ORDER BY id LIMIT " + DELETE_BATCH + ") batch")
                .bind("cut", cut).map(row -> Sql.longValue(row, "last")).one()
                .flatMap(last -> db.sql("DELETE FROM syscall_event WHERE id <= :last AND " + condition)
                        .bind("last", last).bind("cut", cut).fetch().rowsUpdated()));
        return batch.expand(n -> n == DELETE_BATCH ? batch : Mono.empty()).reduce(0L, Long::sum);
    }

    /** The retention job, every {@code periscope.archive.sweep}, first one sweep after start. */
    @Override
    public void configureTasks(ScheduledTaskRegistrar tasks) {
        tasks.addFixedDelayTask(new FixedDelayTask(() -> enforceRetention().block(), limits.sweep(), limits.sweep()));
    }
}
