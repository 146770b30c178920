/**
 * Self-service: a tenant asks to introspect its own VM (process lists, or a trace of one process for N minutes);
 * policy decides (ownership, quotas, operator approval when the tenant's policy says so), every decision is
 * audited; requests nobody decides expire.
 */
package dev.periscope.request;
