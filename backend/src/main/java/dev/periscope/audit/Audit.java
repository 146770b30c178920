package dev.periscope.audit;

import dev.periscope.caller.Caller;
import dev.periscope.caller.TenantScope;
import dev.periscope.system.Sql;
import java.time.Instant;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** Writes and reads audit records. Writing never fails the caller's request: a failed write is logged. */
@Component
public class Audit {

    private static final Logger log = LoggerFactory.getLogger(Audit.class);

    private final DatabaseClient db;

    Audit(DatabaseClient db) {
        this.db = db;
    }

    /** Records that {@code caller} did {@code action} on {@code target} in {@code tenantId}. */
    public Mono<Void> record(Caller caller, String tenantId, String action, String target, String outcome,
                             String detail) {
        return record(caller.username(), tenantId, action, target, outcome, detail);
    }

    public Mono<Void> record(String actor, String tenantId, String action, String target, String outcome,
                             String detail) {
        return db.sql("""
                        INSERT INTO audit_record (occurred_at, actor, tenant_id, action, target, outcome, detail)
                        VALUES (:at, :actor, :tenant, :action, :target, :outcome, :detail)""")
                .bindValues(Map.of("at", Sql.value(Instant.now(), Instant.class),
                        "actor", truncate(actor, 64), "tenant", Sql.value(tenantId, String.class),
                        "action", action, "target", truncate(target, 200), "outcome", outcome,
                        "detail", truncate(detail == null ? "" : detail, 1000)))
                .then()
                .onErrorResume(e -> {
                    log.warn("audit record {} {} {} not written: {}", actor, action, target, e.toString());
                    return Mono.empty();
                });
    }

    /** The newest records {@code caller} may see (its tenant's, all for operators), newest first. */
    Flux<AuditRecord> recent(Caller caller, String action, int limit) {
        return TenantScope.byTenant(caller, "tenant_id")
                .select(db, "SELECT * FROM audit_record", "action", action, "ORDER BY id DESC LIMIT " + limit)
                .map(row -> new AuditRecord(Sql.longValue(row, "id"), Sql.instant(row, "occurred_at"),
                row.get("actor", String.class), row.get("tenant_id", String.class), row.get("action", String.class),
                row.get("target", String.class), row.get("outcome", String.class), row.get("detail", String.class)))
                .all();
    }

    private static String truncate(String value, int max) {
        return value.length() <= max ? value : value.substring(0, max);
    }
}
