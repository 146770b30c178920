package dev.periscope.request;

import dev.periscope.session.SessionKind;
import dev.periscope.vmi.trace.TraceMethod;
import java.time.Instant;

/** A self-service request as stored and shown; {@code sessionId} is set once approved. */
record IntrospectionRequest(String id, String tenant, String vm, SessionKind kind, TraceMethod method, Integer targetPid,
                            int minutes, String reason, String requestedBy, RequestState state, String decidedBy,
                            String decisionReason, String sessionId, Instant createdAt, Instant decidedAt,
                            Instant expiresAt) {
}
