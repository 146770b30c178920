package dev.periscope.session;

import dev.periscope.vmi.trace.TraceMethod;
import java.time.Instant;
import java.util.List;

/**
 * A session as stored and as the API shows it. A trace names its target by {@code targetPid} or
 * {@code targetProcess} (the pid it resolved to is in its stream); {@code syscalls} empty means all. A final session
 * says why it ended ({@code end}, with {@code endReason} for people).
 */
public record Session(String id, String tenant, String vm, SessionKind kind, TraceMethod method, Integer targetPid,
                      String targetProcess, List<String> syscalls,
                      String mode, int intervalSeconds, int maxDurationSeconds, long maxEvents, long eventsDelivered,
                      SessionState state, SessionEnd end, String endReason, String openedBy, String requestId, Instant createdAt,
                      Instant startedAt, Instant endedAt) {
}
