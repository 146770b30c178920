package dev.periscope.audit;

import java.time.Instant;

/** One audit record: who did what to which object of which tenant, when, and how it turned out. */
record AuditRecord(long id, Instant at, String actor, String tenant, String action, String target, String outcome,
                   String detail) {
}
