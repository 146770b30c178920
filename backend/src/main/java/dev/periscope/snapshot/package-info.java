/** Consistent snapshots on demand: a copy-on-write snapshot of a VM, read into a process list. */
package dev.periscope.snapshot;
