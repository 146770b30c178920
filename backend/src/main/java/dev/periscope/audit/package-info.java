/**
 * The audit trail: every self-service request and decision, session start and stop, login success and failure,
 * token creation and revocation, and every read of guest data, with who, when and which tenant.
 */
package dev.periscope.audit;
