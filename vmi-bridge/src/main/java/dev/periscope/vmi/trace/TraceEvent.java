package dev.periscope.vmi.trace;

import java.util.List;
import java.util.Objects;

/**
 * One event of a trace session: immutable, already attributed and decoded. Most events are {@link Kind#SYSCALL}s;
 * the others report what happened to the session itself.
 *
 * @param kind        what this is
 * @param timestampNs host CLOCK_MONOTONIC when the hypervisor saw it (comparable with {@link System#nanoTime()})
 * @param vcpu        the vCPU, -1 for session events
 * @param pid         the process (thread-group id) it belongs to, 0 when unknown
 * @param process     that process's comm, "" when unknown
 * @param number      syscall number (SYSCALL), -1 otherwise
 * @param syscall     syscall name from the guest kernel's own table (SYSCALL), "" otherwise
 * @param args        the six raw arguments, named and decoded where the syscall is known (SYSCALL), else empty
 * @param dropped     DROPPED: events lost since the previous marker (in the hypervisor's ring or in this
 *                    session's buffer); 0 otherwise
 * @param detail      a short human-readable note (DROPPED: where; EXEC/EXIT/CHILD/ENDED: what happened)
 */
public record TraceEvent(Kind kind, long timestampNs, int vcpu, int pid, String process, int number, String syscall,
                         List<Arg> args, long dropped, String detail) {

    public enum Kind {
        /** A syscall entry of a traced process. */
        SYSCALL,
        /** Events were lost (slow consumer or full ring): never silent. */
        DROPPED,
        /** A traced process started running a new program (new address space). */
        EXEC,
        /** The session started following a child of a traced process. */
        CHILD,
        /** A traced process exited. */
        EXIT,
        /** The session ended (target gone, VM gone, closed); the last event. */
        ENDED
    }

    /**
     * One syscall argument.
     *
     * @param name  parameter name (e.g. "pathname"), or "argN" for syscalls without a signature here
     * @param value the raw register value
     * @param text  decoded text (a path, the start of a write buffer, AT_FDCWD, flags), null when not decoded
     */
    public record Arg(String name, long value, String text) {
        @Override
        public String toString() {
            return text != null ? text : (value >= -4096 && value < 65536 ? Long.toString(value) : "0x" + Long.toHexString(value));
        }
    }

    public TraceEvent {
        Objects.requireNonNull(kind);
        process = process == null ? "" : process;
        syscall = syscall == null ? "" : syscall;
        args = List.copyOf(args);
        detail = detail == null ? "" : detail;
    }

    static TraceEvent dropped(long timestampNs, int vcpu, long count, String where) {
        return new TraceEvent(Kind.DROPPED, timestampNs, vcpu, 0, "", -1, "", List.of(), count, where);
    }

    static TraceEvent session(Kind kind, int pid, String process, String detail) {
        return new TraceEvent(kind, System.nanoTime(), -1, pid, process, -1, "", List.of(), 0, detail);
    }

    /** The decoded text of the argument called {@code name}, or null. */
    public String text(String name) {
        for (Arg a : args) {
            if (a.name().equals(name)) {
                return a.text();
            }
        }
        return null;
    }

    /** strace-like one-liner, e.g. {@code 1234 sh openat(AT_FDCWD, "/tmp/x", 0x241, 0644)}. */
    @Override
    public String toString() {
        return switch (kind) {
            case SYSCALL -> {
                StringBuilder b = new StringBuilder().append(pid).append(' ').append(process).append(' ')
                        .append(syscall).append('(');
                for (int i = 0; i < args.size(); i++) {
                    b.append(i == 0 ? "" : ", ").append(args.get(i));
                }
                yield b.append(')').toString();
            }
            case DROPPED -> "DROPPED " + dropped + " (" + detail + ")";
            default -> kind + " " + pid + " " + process + (detail.isEmpty() ? "" : " " + detail);
        };
    }
}
