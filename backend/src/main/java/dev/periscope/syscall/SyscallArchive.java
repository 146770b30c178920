package dev.periscope.syscall;

import dev.periscope.system.PeriscopeProperties;
import dev.periscope.system.Sql;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Archives syscall records (the session runner calls {@link #append}: raw argument registers, how the call ended,
 * the decoded strace-like line) and keeps the archive bounded: a retention job deletes records older than {@code periscope.archive.retention} and the oldest beyond
 * {@code periscope.archive.max-rows}.
 */
@Component
public class SyscallArchive {

    private final DatabaseClient db;
    private final PeriscopeProperties.Archive limits;

    SyscallArchive(DatabaseClient db, PeriscopeProperties properties) {
        this.db = db;
        this.limits = properties.archive();
    }

    /** Longest decoded line kept (the column's size). */
    static final int MAX_TEXT = 2048;

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

    /** Appends records in order. */
    public Mono<Void> append(List<SyscallRecord> records) {
        return Flux.fromIterable(records).concatMap(r -> {
            Map<String, Object> v = new HashMap<>();
            v.put("at", Sql.utc(r.at()));
            v.put("t", r.tenant());
            v.put("vm", r.vm());
            v.put("s", r.session());
            v.put("vcpu", r.vcpu());
            v.put("pid", r.pid());
            v.put("cr3", r.cr3());
            v.put("nr", r.number());
            long[] args = {r.arg0(), r.arg1(), r.arg2(), r.arg3(), r.arg4(), r.arg5()};
            for (int i = 0; i < args.length; i++) {
                v.put("a" + i, args[i]);
            }
            v.put("st", r.status());
            v.put("ret", Sql.value(r.returnValue(), Long.class));
            v.put("errno", Sql.value(r.errno(), String.class));
            v.put("dur", Sql.value(r.durationNs(), Long.class));
            v.put("text", r.text().length() > MAX_TEXT ? r.text().substring(0, MAX_TEXT) : r.text());
            return db.sql("""
                            INSERT INTO syscall_event (occurred_at, tenant_id, vm_name, session_id, vcpu, pid, cr3,
                                syscall_nr, arg0, arg1, arg2, arg3, arg4, arg5, status, return_value, errno,
                                duration_ns, call_text)
                            VALUES (:at, :t, :vm, :s, :vcpu, :pid, :cr3, :nr, :a0, :a1, :a2, :a3, :a4, :a5, :st, :ret,
                                :errno, :dur, :text)""")
                    .bindValues(v).then();
        }).then();
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
        Mono<Long> old = db.sql("DELETE FROM syscall_event WHERE occurred_at < :cut")
                .bind("cut", Sql.utc(Instant.now().minus(limits.retention()))).fetch().rowsUpdated();
        Mono<Long> excess = db.sql("SELECT MAX(id) AS top FROM syscall_event").map(row -> Sql.longValue(row, "top")).one()
                .flatMap(top -> db.sql("DELETE FROM syscall_event WHERE id <= :cut").bind("cut", top - limits.maxRows())
                        .fetch().rowsUpdated());
        return old.zipWith(excess.defaultIfEmpty(0L), Long::sum);
    }

    @Scheduled(fixedDelayString = "${periscope.archive.sweep:1m}", initialDelayString = "${periscope.archive.sweep:1m}")
    void retentionJob() {
        enforceRetention().block();
    }
}
