package dev.periscope.tenant;

import dev.periscope.caller.Caller;
import dev.periscope.caller.TenantScope;
import dev.periscope.system.Sql;
import io.r2dbc.spi.Readable;
import java.time.Instant;
import java.util.Map;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The tenant table. */
@Component
public class Tenants {

    private final DatabaseClient db;

    Tenants(DatabaseClient db) {
        this.db = db;
    }

    public Flux<Tenant> all() {
        return db.sql("SELECT * FROM tenant ORDER BY id").map(Tenants::tenant).all();
    }

    /** Tenants {@code caller} may see: all for operators, its own otherwise. */
    public Flux<Tenant> visibleTo(Caller caller) {
        return TenantScope.byTenant(caller, "id").select(db, "SELECT * FROM tenant", "ORDER BY id").map(Tenants::tenant).all();
    }

    public Mono<Tenant> find(String id) {
        return db.sql("SELECT * FROM tenant WHERE id = :id").bind("id", id).map(Tenants::tenant).one();
    }

    public Mono<Long> count() {
        return db.sql("SELECT COUNT(*) AS n FROM tenant").map(row -> Sql.longValue(row, "n")).one();
    }

    Mono<Tenant> insert(Tenant tenant) {
        return db.sql("""
                        INSERT INTO tenant (id, display_name, approval_required, max_concurrent_sessions,
                                            max_trace_minutes_day, created_at)
                        VALUES (:id, :name, :approval, :sessions, :minutes, :at)""")
                .bindValues(Map.of("id", tenant.id(), "name", tenant.displayName(), "approval",
                        tenant.approvalRequired(), "sessions", tenant.maxConcurrentSessions(), "minutes",
                        tenant.maxTraceMinutesPerDay(), "at", Sql.utc(tenant.createdAt())))
                .then().thenReturn(tenant);
    }

    Mono<Tenant> updatePolicy(String id, boolean approvalRequired, int maxConcurrentSessions, int maxTraceMinutes) {
        return db.sql("""
                        UPDATE tenant SET approval_required = :approval, max_concurrent_sessions = :sessions,
                                          max_trace_minutes_day = :minutes WHERE id = :id""")
                .bindValues(Map.of("id", id, "approval", approvalRequired, "sessions", maxConcurrentSessions,
                        "minutes", maxTraceMinutes))
                .fetch().rowsUpdated()
                .flatMap(n -> n == 0 ? Mono.empty() : find(id));
    }

    private static Tenant tenant(Readable row) {
        return new Tenant(row.get("id", String.class), row.get("display_name", String.class),
                Boolean.TRUE.equals(row.get("approval_required", Boolean.class)),
                Sql.integer(row, "max_concurrent_sessions"), Sql.integer(row, "max_trace_minutes_day"),
                Sql.instant(row, "created_at"));
    }

    /** A new tenant with the given policy, created now. */
    static Tenant newTenant(String id, String displayName, boolean approvalRequired, int sessions, int minutes) {
        return new Tenant(id, displayName, approvalRequired, sessions, minutes, Instant.now());
    }
}
