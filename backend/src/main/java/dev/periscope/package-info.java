/**
 * Periscope's control plane: one feature per package (accounts and callers, tenants, the fleet of agents and their
 * VMs, process lists, sessions, snapshots, self-service requests, the audit trail, the syscall archive, overhead,
 * the FLASK policy), over the {@code system} package's plumbing; the {@code cli} package is the command-line client.
 */
package dev.periscope;
