package dev.periscope.request;

import dev.periscope.audit.Audit;
import dev.periscope.caller.Caller;
import dev.periscope.caller.Role;
import dev.periscope.caller.TenantScope;
import dev.periscope.session.SessionKind;
import dev.periscope.session.SessionSpec;
import dev.periscope.session.Sessions;
import dev.periscope.system.PeriscopeProperties;
import dev.periscope.system.Sql;
import dev.periscope.tenant.Tenants;
import dev.periscope.vm.Fleet;
import dev.periscope.vmi.trace.TraceMethod;
import io.r2dbc.spi.Readable;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.springframework.http.HttpStatus;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The self-service policy and the request table. */
@Component
class Requests {

    private final DatabaseClient db;
    private final Fleet fleet;
    private final Tenants tenants;
    private final Sessions sessions;
    private final Audit audit;
    private final PeriscopeProperties.Sessions limits;

    Requests(DatabaseClient db, Fleet fleet, Tenants tenants, Sessions sessions, Audit audit,
             PeriscopeProperties properties) {
        this.db = db;
        this.fleet = fleet;
        this.tenants = tenants;
        this.sessions = sessions;
        this.audit = audit;
        this.limits = properties.sessions();
    }

    /** Submits a request; policy approves it at once, rejects it (quota) or leaves it for an operator. */
    Mono<IntrospectionRequest> submit(Caller caller, RequestController.NewRequest body) {
        if (caller.isOperator()) {
            return Mono.error(new ResponseStatusException(HttpStatus.BAD_REQUEST,
                    "operators open sessions directly (POST /api/v1/sessions); requests are for tenants"));
        }
        if (body.kind() == SessionKind.TRACE && body.targetPid() == null) {
            return Mono.error(new ResponseStatusException(HttpStatus.BAD_REQUEST, "a trace request needs a targetPid"));
        }
        Instant now = Instant.now();
        return fleet.get(caller, body.vm()).flatMap(vm -> tenants.find(vm.tenant()).flatMap(tenant -> {
            var request = new IntrospectionRequest(UUID.randomUUID().toString(), tenant.id(), vm.id(), body.kind(),
                    body.method() == null ? TraceMethod.M1 : body.method(), body.targetPid(), body.minutes(), body.reason(),
                    caller.username(), RequestState.SUBMITTED, null, null, null, now, null,
                    now.plus(limits.requestTtl()));
            Mono<Void> stored = insert(request)
                    .then(audit.record(caller, tenant.id(), "REQUEST_SUBMITTED", request.id(), "ok",
                            request.kind() + " " + request.method() + " on " + request.vm() + " for " + request.minutes()
                                    + " min: " + request.reason()));
            return stored.then(sessions.checkQuotas(tenant, request.kind(), request.minutes() * 60L)
                    .then(Mono.defer(() -> tenant.approvalRequired() ? find(request.id())
                            : approveAs(Caller.operator("policy"), request, "tenant policy approves without an operator")))
                    .onErrorResume(ResponseStatusException.class, quota -> quota.getStatusCode().value() == 409
                            ? decide(request, RequestState.REJECTED, "policy", quota.getReason(), null)
                            : Mono.error(quota)));
        }));
    }

    Mono<IntrospectionRequest> approve(Caller operator, String id, String reason) {
        requireOperator(operator);
        return submitted(operator, id).flatMap(request -> approveAs(operator, request, reason));
    }

    Mono<IntrospectionRequest> reject(Caller operator, String id, String reason) {
        requireOperator(operator);
        return submitted(operator, id).flatMap(request -> decide(request, RequestState.REJECTED, operator.username(),
                reason, null));
    }

    private Mono<IntrospectionRequest> approveAs(Caller decider, IntrospectionRequest request, String reason) {
        Caller requester = new Caller(request.requestedBy(), Role.TENANT_USER, request.tenant());
        SessionSpec spec = new SessionSpec(request.vm(), request.kind(), request.method(), request.targetPid(), null,
                null, null, null, request.minutes() * 60, null);
        return sessions.open(requester, spec, null, request.id())
                .flatMap(opened -> decide(request, RequestState.APPROVED, decider.username(), reason,
                        opened.session().id()));
    }

    private Mono<IntrospectionRequest> submitted(Caller caller, String id) {
        return find(caller, id)
                .switchIfEmpty(Mono.error(new ResponseStatusException(HttpStatus.NOT_FOUND, "no request '" + id + "'")))
                .flatMap(r -> r.state() == RequestState.SUBMITTED && r.expiresAt().isBefore(Instant.now())
                        ? decide(r, RequestState.EXPIRED, "periscope", "nobody decided before it expired", null)
                        : Mono.just(r))
                .flatMap(r -> r.state() == RequestState.SUBMITTED ? Mono.just(r)
                        : Mono.error(new ResponseStatusException(HttpStatus.CONFLICT,
                        "request " + id + " is " + r.state().name().toLowerCase() + " already")));
    }

    private Mono<IntrospectionRequest> decide(IntrospectionRequest request, RequestState state, String by,
                                              String reason, String sessionId) {
        return db.sql("""
                        UPDATE introspection_request SET state = :s, decided_by = :by, decision_reason = :r,
                            decided_at = :at, session_id = :sid WHERE id = :id AND state = 'SUBMITTED'""")
                .bindValues(Map.of("s", state.name(), "by", by, "r", reason, "at", Sql.utc(Instant.now()),
                        "sid", Sql.value(sessionId, String.class), "id", request.id()))
                .then()
                .then(audit.record(by, request.tenant(), "REQUEST_" + state.name(), request.id(), "ok",
                        reason + (sessionId == null ? "" : " session=" + sessionId)))
                .then(find(request.id()));
    }

    /** Expires submitted requests nobody decided in time. */
    @Scheduled(fixedDelayString = "PT1M", initialDelayString = "PT1M")
    void expire() {
        db.sql("SELECT * FROM introspection_request WHERE state = 'SUBMITTED' AND expires_at < :now")
                .bind("now", Sql.utc(Instant.now())).map(Requests::request).all()
                .concatMap(r -> decide(r, RequestState.EXPIRED, "periscope", "nobody decided before it expired", null))
                .then().block();
    }

    Flux<IntrospectionRequest> list(Caller caller, RequestState state) {
        return TenantScope.byTenant(caller, "tenant_id").select(db, "SELECT * FROM introspection_request", "state",
                state == null ? null : state.name(), "ORDER BY created_at DESC LIMIT 500").map(Requests::request).all();
    }

    Mono<IntrospectionRequest> find(Caller caller, String id) {
        return find(id).filter(r -> caller.sees(r.tenant()));
    }

    private Mono<IntrospectionRequest> find(String id) {
        return db.sql("SELECT * FROM introspection_request WHERE id = :id").bind("id", id).map(Requests::request).one();
    }

    private Mono<Void> insert(IntrospectionRequest r) {
        Map<String, Object> v = new HashMap<>();
        v.put("id", r.id());
        v.put("tenant", r.tenant());
        v.put("vm", r.vm());
        v.put("kind", r.kind().name());
        v.put("method", r.method().name());
        v.put("pid", Sql.value(r.targetPid(), Integer.class));
        v.put("minutes", r.minutes());
        v.put("reason", r.reason());
        v.put("by", r.requestedBy());
        v.put("state", r.state().name());
        v.put("at", Sql.utc(r.createdAt()));
        v.put("exp", Sql.utc(r.expiresAt()));
        return db.sql("""
                        INSERT INTO introspection_request (id, tenant_id, vm_name, kind, method, target_pid, minutes,
                            reason, requested_by, state, created_at, expires_at)
                        VALUES (:id, :tenant, :vm, :kind, :method, :pid, :minutes, :reason, :by, :state, :at, :exp)""")
                .bindValues(v).then();
    }

    private static void requireOperator(Caller caller) {
        if (!caller.isOperator()) {
            throw new ResponseStatusException(HttpStatus.FORBIDDEN, "only operators decide requests");
        }
    }

    private static IntrospectionRequest request(Readable row) {
        return new IntrospectionRequest(row.get("id", String.class), row.get("tenant_id", String.class),
                row.get("vm_name", String.class), SessionKind.valueOf(row.get("kind", String.class)),
                TraceMethod.valueOf(row.get("method", String.class)), Sql.integer(row, "target_pid"),
                Sql.integer(row, "minutes"), row.get("reason", String.class), row.get("requested_by", String.class),
                RequestState.valueOf(row.get("state", String.class)), row.get("decided_by", String.class),
                row.get("decision_reason", String.class), row.get("session_id", String.class),
                Sql.instant(row, "created_at"), Sql.instant(row, "decided_at"), Sql.instant(row, "expires_at"));
    }
}
