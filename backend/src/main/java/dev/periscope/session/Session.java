package dev.periscope.session;

import dev.periscope.vmi.trace.TraceMethod;
import java.time.Instant;
import java.util.List;

/**
 * A session as stored and as the API shows it. A trace names its target by {@code targetPid} or
 * {@code targetProcess} (the pid it resolved to is in its stream); {@code syscalls} empty means all. A final session
 * says why it ended ({@code end}, with {@code endReason} for people). {@code vm} is {@code name@host}; the session runs
 * on that host's agent, and {@code lastSeq} is the newest message of the agent's stream handled so far (a resumed
 * session continues after it; SSE ids are these numbers).
 */
public record Session(String id, String tenant, String vm, SessionKind kind, TraceMethod method, Integer targetPid,
                      String targetProcess, List<String> syscalls,
                      String mode, int intervalSeconds, int maxDurationSeconds, long maxEvents, long eventsDelivered,
                      long lastSeq,
                      SessionState state, SessionEnd end, String endReason, String openedBy, String requestId, Instant createdAt,
                      Instant startedAt, Instant endedAt) {
}
