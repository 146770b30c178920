package dev.periscope.session;

import dev.periscope.caller.Caller;
import dev.periscope.caller.TenantScope;
import dev.periscope.system.Sql;
import dev.periscope.vmi.trace.TraceMethod;
import io.r2dbc.spi.Readable;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The session table. Every read for a caller is scoped to the caller's tenant (operators see all). */
@Component
class SessionStore {

    private final DatabaseClient db;

    SessionStore(DatabaseClient db) {
        this.db = db;
    }

    Mono<Session> insert(Session s, String idempotencyKey, String specHash, String runner) {
        Map<String, Object> v = new HashMap<>();
        v.put("id", s.id());
        v.put("tenant", s.tenant());
        v.put("vm", s.vm());
        v.put("kind", s.kind().name());
        v.put("method", s.method().name());
        v.put("pid", Sql.value(s.targetPid(), Integer.class));
        v.put("pname", Sql.value(s.targetProcess(), String.class));
        v.put("syscalls", String.join(",", s.syscalls()));
        v.put("mode", s.mode());
        v.put("interval", s.intervalSeconds());
        v.put("duration", s.maxDurationSeconds());
        v.put("events", s.maxEvents());
        v.put("state", s.state().name());
        v.put("by", s.openedBy());
        v.put("request", Sql.value(s.requestId(), String.class));
        v.put("key", Sql.value(idempotencyKey, String.class));
        v.put("hash", Sql.value(specHash, String.class));
        v.put("at", Sql.utc(s.createdAt()));
        v.put("runner", runner);
        return db.sql("""
                        INSERT INTO vmi_session (id, tenant_id, vm_name, kind, method, target_pid, target_name, syscalls, acquisition,
                            interval_seconds, max_duration_seconds, max_events, events_delivered, state, opened_by,
                            request_id, idempotency_key, spec_hash, created_at, runner, runner_seen)
                        VALUES (:id, :tenant, :vm, :kind, :method, :pid, :pname, :syscalls, :mode, :interval, :duration, :events, 0,
                            :state, :by, :request, :key, :hash, :at, :runner, :at)""")
                .bindValues(v).then().thenReturn(s);
    }

    Mono<Session> find(String id) {
        return db.sql("SELECT * FROM vmi_session WHERE id = :id").bind("id", id).map(SessionStore::session).one();
    }

    /** The session if {@code caller} may see it; empty otherwise (the caller's 404). */
    Mono<Session> find(Caller caller, String id) {
        return find(id).filter(s -> caller.sees(s.tenant()));
    }

    Flux<Session> list(Caller caller, SessionState state) {
        return TenantScope.byTenant(caller, "tenant_id").select(db, "SELECT * FROM vmi_session", "state",
                state == null ? null : state.name(), "ORDER BY created_at DESC LIMIT 500").map(SessionStore::session).all();
    }

    /** The session {@code openedBy} opened with {@code key}, with the hash of the spec it was opened with. */
    Mono<Map.Entry<Session, String>> byIdempotencyKey(String openedBy, String key) {
        return db.sql("SELECT * FROM vmi_session WHERE opened_by = :by AND idempotency_key = :key")
                .bind("by", openedBy).bind("key", key)
                .map(row -> Map.entry(session(row), String.valueOf(row.get("spec_hash", String.class))))
                .one();
    }

    /** Unfinished sessions this replica ({@code runner}) may run: its own, and those whose runner went quiet. */
    Flux<Session> claimable(String runner, Instant staleBefore) {
        return db.sql("SELECT * FROM vmi_session WHERE state IN ('PENDING', 'ACTIVE', 'STOPPING') "
                        + "AND (runner = :me OR runner IS NULL OR runner_seen < :stale)")
                .bind("me", runner).bind("stale", Sql.utc(staleBefore)).map(SessionStore::session).all();
    }

    /**
     * Makes {@code runner} the session's runner, unless another replica renewed its claim since {@code staleBefore};
     * true when this replica runs it now.
     */
    Mono<Boolean> claim(String id, String runner, Instant staleBefore) {
        return db.sql("UPDATE vmi_session SET runner = :me, runner_seen = :now WHERE id = :id "
                        + "AND state IN ('PENDING', 'ACTIVE', 'STOPPING') "
                        + "AND (runner = :me OR runner IS NULL OR runner_seen < :stale)")
                .bind("me", runner).bind("now", Sql.utc(Instant.now())).bind("stale", Sql.utc(staleBefore))
                .bind("id", id).fetch().rowsUpdated().map(n -> n > 0);
    }

    /** Renews {@code runner}'s claim on the sessions it runs. */
    Mono<Void> renew(String runner, Collection<String> ids) {
        if (ids.isEmpty()) {
            return Mono.empty();
        }
        return db.sql("UPDATE vmi_session SET runner_seen = :now WHERE runner = :me AND id IN (:ids)")
                .bind("now", Sql.utc(Instant.now())).bind("me", runner).bind("ids", List.copyOf(ids)).then();
    }

    Mono<Long> openCount(String tenant) {
        return db.sql("SELECT COUNT(*) AS n FROM vmi_session WHERE tenant_id = :t AND state IN ('PENDING', 'ACTIVE', 'STOPPING')")
                .bind("t", tenant).map(row -> Sql.longValue(row, "n")).one();
    }

    /** Trace seconds the tenant's sessions created since {@code since} may run. */
    Mono<Long> traceSecondsSince(String tenant, Instant since) {
        return db.sql("SELECT COALESCE(SUM(max_duration_seconds), 0) AS s FROM vmi_session "
                        + "WHERE tenant_id = :t AND kind = 'TRACE' AND created_at >= :since")
                .bind("t", tenant).bind("since", Sql.utc(since)).map(row -> Sql.longValue(row, "s")).one();
    }

    Mono<Void> started(String id, Instant at) {
        return db.sql("UPDATE vmi_session SET state = 'ACTIVE', started_at = COALESCE(started_at, :at) WHERE id = :id")
                .bind("at", Sql.utc(at)).bind("id", id).then();
    }

    Mono<Void> stopping(String id) {
        return db.sql("UPDATE vmi_session SET state = 'STOPPING' WHERE id = :id AND state IN ('PENDING', 'ACTIVE')")
                .bind("id", id).then();
    }

    /** Moves a session to the final state {@code end} implies unless it is in one already; true when this call did it. */
    Mono<Boolean> finish(String id, SessionEnd end, String reason, Instant at) {
        return db.sql("UPDATE vmi_session SET state = :s, end_cause = :c, end_reason = :r, ended_at = :at "
                        + "WHERE id = :id AND state NOT IN ('ENDED', 'LOST')")
                .bind("s", end.state().name()).bind("c", end.name())
                .bind("r", reason.length() > 500 ? reason.substring(0, 500) : reason)
                .bind("at", Sql.utc(at)).bind("id", id)
                .fetch().rowsUpdated().map(n -> n > 0);
    }

    /** How far the runner got: events delivered, and the newest agent message handled. */
    Mono<Void> progress(String id, long events, long lastSeq) {
        return db.sql("UPDATE vmi_session SET events_delivered = :n, last_seq = :seq WHERE id = :id")
                .bind("n", events).bind("seq", lastSeq).bind("id", id).then();
    }

    private static SessionEnd endCause(String column) {
        return column == null ? null : SessionEnd.valueOf(column);
    }

    private static List<String> syscalls(String column) {
        return column == null || column.isBlank() ? List.of() : List.of(column.split(","));
    }

    private static Session session(Readable row) {
        return new Session(row.get("id", String.class), row.get("tenant_id", String.class),
                row.get("vm_name", String.class), SessionKind.valueOf(row.get("kind", String.class)),
                TraceMethod.valueOf(row.get("method", String.class)), Sql.integer(row, "target_pid"),
                row.get("target_name", String.class), syscalls(row.get("syscalls", String.class)),
                row.get("acquisition", String.class), Sql.integer(row, "interval_seconds"),
                Sql.integer(row, "max_duration_seconds"), Sql.longValue(row, "max_events"),
                Sql.longValue(row, "events_delivered"), Sql.longValue(row, "last_seq"),
                SessionState.valueOf(row.get("state", String.class)),
                endCause(row.get("end_cause", String.class)), row.get("end_reason", String.class), row.get("opened_by", String.class),
                row.get("request_id", String.class), Sql.instant(row, "created_at"), Sql.instant(row, "started_at"),
                Sql.instant(row, "ended_at"));
    }
}
