package dev.periscope.session;

import java.time.Instant;

/** A session as stored and as the API shows it. */
public record Session(String id, String tenant, String vm, SessionKind kind, Method method, Integer targetPid,
                      String mode, int intervalSeconds, int maxDurationSeconds, long maxEvents, long eventsDelivered,
                      SessionState state, String endReason, String openedBy, String requestId, Instant createdAt,
                      Instant startedAt, Instant endedAt) {
}
