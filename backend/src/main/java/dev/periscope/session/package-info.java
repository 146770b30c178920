/**
 * VMI sessions: a process-list or trace session on one VM, with its method (M1..M5), target, limits (duration,
 * events) and lifecycle (pending, active, stopping, ended with a {@link dev.periscope.session.SessionEnd}, lost),
 * persisted. A session runs on the agent of the VM's host; one control-plane replica at a time relays it (a renewed
 * runner lease, taken over when it goes quiet, resuming the agent's stream after its last sequence number) and
 * streams it (SSE with resumable ids, NDJSON) through bounded per-subscriber buffers with drop markers, written as
 * bytes in groups that are flushed one by one, each event's JSON encoded once for all its subscribers. A session
 * that ends here (stopped, out of time) lets its agent's last events through first (bounded): a trace's calls still
 * running are shown unfinished.
 */
package dev.periscope.session;
