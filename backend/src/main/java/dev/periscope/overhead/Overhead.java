package dev.periscope.overhead;

import dev.periscope.system.Sql;
import java.time.Instant;
import java.util.Map;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The overhead counters table: one sample per measurement, summarised per VM or per session. */
@Component
public class Overhead {

    private final DatabaseClient db;

    Overhead(DatabaseClient db) {
        this.db = db;
    }

    /** A metric's summary: how many samples, their mean, maximum and sum. */
    public record Summary(String metric, long samples, double mean, double max, double total) {
    }

    /** Records samples; never fails the caller. */
    public Mono<Void> sample(String tenant, String vm, String sessionId, Map<String, Double> metrics) {
        return record(tenant, vm, sessionId, metrics).onErrorResume(e -> Mono.empty());
    }

    /** Records samples; fails when the database does not take them (a caller that keeps deltas keeps them then). */
    public Mono<Void> record(String tenant, String vm, String sessionId, Map<String, Double> metrics) {
        var at = Sql.value(Instant.now(), Instant.class);
        return Flux.fromIterable(metrics.entrySet())
                .concatMap(m -> db.sql("""
                                INSERT INTO overhead_sample (occurred_at, tenant_id, vm_name, session_id, metric, metric_value)
                                VALUES (:at, :t, :vm, :s, :m, :v)""")
                        .bindValues(Map.of("at", at, "t", tenant, "vm", vm, "s", Sql.value(sessionId, String.class),
                                "m", m.getKey(), "v", m.getValue()))
                        .then())
                .then();
    }

    public Flux<Summary> forVm(String vm) {
        return summary("vm_name = :k", vm);
    }

    public Flux<Summary> forSession(String sessionId) {
        return summary("session_id = :k", sessionId);
    }

    private Flux<Summary> summary(String where, String key) {
        return db.sql("SELECT metric, COUNT(*) AS n, AVG(metric_value) AS mean, MAX(metric_value) AS mx, "
                        + "SUM(metric_value) AS total FROM overhead_sample WHERE " + where
                        + " GROUP BY metric ORDER BY metric")
                .bind("k", key)
                .map(row -> new Summary(row.get("metric", String.class), Sql.longValue(row, "n"),
                        number(row.get("mean", Number.class)), number(row.get("mx", Number.class)),
                        number(row.get("total", Number.class))))
                .all();
    }

    private static double number(Number n) {
        return n == null ? 0 : n.doubleValue();
    }
}
