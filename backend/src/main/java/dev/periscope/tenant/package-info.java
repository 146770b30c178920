/**
 * Tenants: who owns VMs, with their self-service policy (operator approval required or not, quotas of
 * concurrent sessions and trace minutes per day); the demo tenants created on first start.
 */
package dev.periscope.tenant;
