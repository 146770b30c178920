package dev.periscope.vm;

import dev.periscope.caller.Caller;
import dev.periscope.fleet.KernelSeen;
import dev.periscope.system.Sql;
import java.time.Instant;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Kernel profiles seen, keyed by banner (one row per kernel build however many VMs run it), and
 * {@code GET /api/v1/kernel-profiles} for operators.
 */
@RestController
public class KernelProfiles {

    private final DatabaseClient db;

    KernelProfiles(DatabaseClient db) {
        this.db = db;
    }

    /** A kernel build as recorded: banner, release, symbols, BTF types, when first and last seen. */
    record Seen(String banner, String release, int symbolCount, int btfTypes, Instant firstSeen, Instant lastSeen,
                String firstVm) {
    }

    /** Records the kernel an agent found in {@code vm} (one row per banner, its last use updated). Never fails. */
    public Mono<Void> record(String vm, KernelSeen profile) {
        return upsert(vm, profile).onErrorResume(e -> Mono.empty());
    }

    private Mono<Void> upsert(String vm, KernelSeen profile) {
        var now = Sql.utc(Instant.now());
        return db.sql("UPDATE kernel_profile SET last_seen = :at WHERE banner = :b")
                .bind("at", now).bind("b", profile.banner()).fetch().rowsUpdated()
                .flatMap(n -> n > 0 ? Mono.empty() : db.sql("""
                                INSERT INTO kernel_profile (banner, kernel_release, symbol_count, btf_types, first_seen,
                                                            last_seen, first_vm)
                                VALUES (:b, :r, :s, :t, :at, :at, :vm)""")
                        .bindValues(Map.of("b", profile.banner(), "r", profile.release(), "s",
                                profile.symbols(), "t", profile.btfTypes(), "at", now, "vm", vm))
                        .then())
                .then();
    }

    @GetMapping("/api/v1/kernel-profiles")
    Flux<Seen> list(Caller caller) {
        if (!caller.isOperator()) {
            return Flux.error(new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators list kernel profiles"));
        }
        return db.sql("SELECT * FROM kernel_profile ORDER BY first_seen")
                .map(row -> new Seen(row.get("banner", String.class), row.get("kernel_release", String.class),
                        Sql.integer(row, "symbol_count"), Sql.integer(row, "btf_types"),
                        Sql.instant(row, "first_seen"), Sql.instant(row, "last_seen"), row.get("first_vm", String.class)))
                .all();
    }
}
