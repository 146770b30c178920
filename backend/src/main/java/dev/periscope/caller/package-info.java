/**
 * Who is asking and what they may see: the {@link dev.periscope.caller.Caller} of a request (operator, tenant admin
 * or tenant user, with its tenant), and {@link dev.periscope.caller.TenantScope}, the one WHERE clause every store
 * limits its queries by. Another tenant's objects do not exist for a caller (404, never 403). This package depends on
 * no other of the server's packages, so every feature, the audit trail and the accounts can use it.
 */
package dev.periscope.caller;
