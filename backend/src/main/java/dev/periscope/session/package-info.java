/**
 * VMI sessions: a process-list or trace session on one VM, with its method (M1..M5), target, limits (duration,
 * events) and lifecycle (pending, active, stopping, ended, lost), persisted, reconciled after a restart, and
 * streamed (SSE with resumable ids, NDJSON) through bounded per-subscriber buffers with drop markers. A session that
 * ends here (stopped, out of time) lets its agent's last events through first (bounded): a trace's calls still
 * running are shown unfinished.
 */
package dev.periscope.session;
