package dev.periscope.tenant;

import java.time.Instant;

/**
 * A tenant and its self-service policy.
 *
 * @param id                    short name, also the VM label (e.g. "acme")
 * @param displayName           for people
 * @param approvalRequired      whether an operator must approve each self-service request
 * @param maxConcurrentSessions sessions that may be open at once on the tenant's VMs
 * @param maxTraceMinutesPerDay trace minutes the tenant may request per 24 hours
 * @param createdAt             when it was created
 */
public record Tenant(String id, String displayName, boolean approvalRequired, int maxConcurrentSessions,
                     int maxTraceMinutesPerDay, Instant createdAt) {
}
