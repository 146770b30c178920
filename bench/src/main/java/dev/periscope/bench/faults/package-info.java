/**
 * The fault suite: each fault of the whole path (QEMU killed in the middle of a process list, a copy-on-write snapshot
 * or a trace; the agent killed and restarted, or frozen, during a trace; the control plane killed and restarted; the
 * database restarted; the hypervisor's ring overflowing; a slow SSE client; a session ending under its clients; a full
 * disk under the archive) is done to the real parts, a real agent over mutual TLS, the server's jar, lab guests under
 * QEMU, PostgreSQL in Docker, a tmpfs, as often as asked. Each repetition records what a user sees, what was lost and
 * whether it was counted; around the repetitions the file descriptors, mappings, /dev/shm files and threads of the
 * processes that lived through the fault are compared. {@link dev.periscope.bench.faults.FaultSuite} runs it
 * (bench/faults.sh, 100 repetitions) and a short form of it runs with the tests.
 */
package dev.periscope.bench.faults;
