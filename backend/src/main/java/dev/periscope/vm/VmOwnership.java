package dev.periscope.vm;

import dev.periscope.system.Sql;
import java.time.Instant;
import java.util.Map;
import java.util.stream.Collectors;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;

/** Operator-assigned VM owners (the override table); without a row the platform's tenant label applies. */
@Component
class VmOwnership {

    private final DatabaseClient db;

    VmOwnership(DatabaseClient db) {
        this.db = db;
    }

    Mono<Map<String, String>> overrides() {
        return db.sql("SELECT vm_name, tenant_id FROM vm_owner")
                .map(row -> Map.entry(row.get("vm_name", String.class), row.get("tenant_id", String.class)))
                .all()
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }

    Mono<Void> assign(String vm, String tenant, String by) {
        return db.sql("DELETE FROM vm_owner WHERE vm_name = :vm").bind("vm", vm).then()
                .then(db.sql("INSERT INTO vm_owner (vm_name, tenant_id, assigned_by, assigned_at) VALUES (:vm, :t, :by, :at)")
                        .bind("vm", vm).bind("t", tenant).bind("by", by).bind("at", Sql.utc(Instant.now())).then());
    }

    Mono<Long> clear(String vm) {
        return db.sql("DELETE FROM vm_owner WHERE vm_name = :vm").bind("vm", vm).fetch().rowsUpdated();
    }
}
