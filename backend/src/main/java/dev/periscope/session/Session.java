package dev.periscope.session;

import java.time.Instant;
import java.util.List;

/**
 * A session as stored and as the API shows it. A trace names its target by {@code targetPid} or
 * {@code targetProcess} (the pid it resolved to is in its stream); {@code syscalls} empty means all.
 */
public record Session(String id, String tenant, String vm, SessionKind kind, Method method, Integer targetPid,
                      String targetProcess, List<String> syscalls,
                      String mode, int intervalSeconds, int maxDurationSeconds, long maxEvents, long eventsDelivered,
                      SessionState state, String endReason, String openedBy, String requestId, Instant createdAt,
                      Instant startedAt, Instant endedAt) {
}
