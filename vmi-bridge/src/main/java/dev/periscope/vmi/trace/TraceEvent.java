package dev.periscope.vmi.trace;

import java.util.List;
import java.util.Objects;

/**
 * One event of a trace session: immutable, already attributed and decoded, one record type per kind. Most events
 * are {@link Syscall}s; the others report losses ({@link Dropped}), what happened to the traced processes
 * ({@link ProcessChange}) and the end of the session ({@link Ended}, always the last).
 */
public sealed interface TraceEvent permits TraceEvent.Syscall, TraceEvent.Dropped, TraceEvent.ProcessChange,
        TraceEvent.Ended {

    /** Host CLOCK_MONOTONIC when the hypervisor saw it, or when the engine decided it (comparable with nanoTime). */
    long timestampNs();

    /**
     * A syscall of a traced process: its entry, and how it ended when the platform reports returns (the event is
     * then emitted when the call returns, or at the latest when the session ends, with its entry's time).
     *
     * @param timestampNs when the guest entered it
     * @param vcpu        the vCPU it entered on
     * @param pid         the process (thread-group id), 0 when the engine could not attribute it
     * @param process     that process's name, "" when unknown
     * @param number      syscall number
     * @param name        syscall name from the guest kernel's own table (as strace spells it)
     * @param args        the arguments strace shows for it, decoded (none for calls that take none), or the six raw
     *                    registers for calls without a signature here
     * @param result      how it ended
     */
    record Syscall(long timestampNs, int vcpu, int pid, String process, int number, String name, List<Arg> args,
                   Result result) implements TraceEvent {
        public Syscall {
            process = Objects.requireNonNullElse(process, "");
            name = Objects.requireNonNullElse(name, "");
            args = List.copyOf(args);
            Objects.requireNonNull(result, "result");
        }

        /** An entry whose return is not traced. */
        public Syscall(long timestampNs, int vcpu, int pid, String process, int number, String name, List<Arg> args) {
            this(timestampNs, vcpu, pid, process, number, name, args, Result.NOT_TRACED);
        }

        /** The same call with {@code r} as its result and {@code a} as its arguments. */
        public Syscall completed(List<Arg> a, Result r) {
            return new Syscall(timestampNs, vcpu, pid, process, number, name, a, r);
        }

        /** The decoded text of the argument called {@code argName}, or null. */
        public String text(String argName) {
            for (Arg a : args) {
                if (a.name().equals(argName)) {
                    return a.text();
                }
            }
            return null;
        }

        /** The call as strace writes it: {@code openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)}. */
        public String call() {
            StringBuilder b = new StringBuilder(name).append('(');
            for (int i = 0; i < args.size(); i++) {
                b.append(i == 0 ? "" : ", ").append(args.get(i));
            }
            return b.append(')').toString();
        }

        /**
         * The strace-like line: {@code 1234 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000021>},
         * {@code = -1 ENOENT (No such file or directory)}, {@code = ?} for calls that do not return,
         * {@code <unfinished ...>} for calls still running when the trace ended.
         */
        @Override
        public String toString() {
            StringBuilder b = new StringBuilder().append(pid).append(' ').append(call());
            return switch (result.status()) {
                case RETURNED -> appendSeconds(b.append(" = ").append(result.text()).append(" <"), result.durationNs())
                        .append('>').toString();
                case NO_RETURN -> b.append(" = ?").toString();
                case UNFINISHED -> b.append(" <unfinished ...>").toString();
                case NOT_TRACED -> b.toString();
            };
        }

        /**
         * {@code ns} as seconds with six decimals, rounded to the microsecond, as strace prints a duration
         * ({@code 0.000021}): by hand, since every syscall of a trace gets this line and a formatter costs more than
         * the rest of it.
         */
        static StringBuilder appendSeconds(StringBuilder b, long ns) {
            long micros = Math.floorDiv(ns + 500, 1000);
            if (micros < 0) {
                b.append('-');
                micros = -micros;
            }
            String fraction = Long.toString(micros % 1_000_000);
            b.append(micros / 1_000_000).append('.');
            for (int i = fraction.length(); i < 6; i++) {
                b.append('0');
            }
            return b.append(fraction);
        }
    }

    /** How a syscall ended, as far as the trace saw. */
    enum Status {
        /** It returned: value, errno when it failed, duration. */
        RETURNED,
        /**
         * No return was seen: it was still running when the session ended or its process exited, or its return was
         * lost (the engine's or the hypervisor's bounded tables were full, a record was dropped).
         */
        UNFINISHED,
        /** A call that never returns (exit, exit_group). */
        NO_RETURN,
        /** Returns are not traced here: the platform's hypervisor extension reports entries only. */
        NOT_TRACED
    }

    /**
     * The result of a syscall.
     *
     * @param status     how it ended
     * @param value      RETURNED: the return value as the guest saw it (-4095..-1 is -errno); else 0
     * @param errno      RETURNED with a failure: the error's name (e.g. "ENOENT"); else null
     * @param durationNs RETURNED: host time from entry to return; else 0
     * @param text       RETURNED: the value as strace shows it ("3", "0x7f3a1c000000",
     *                   "-1 ENOENT (No such file or directory)", "? ERESTARTSYS (To be restarted if SA_RESTART is
     *                   set)"); "" otherwise
     */
    record Result(Status status, long value, String errno, long durationNs, String text) {
        public static final Result NOT_TRACED = new Result(Status.NOT_TRACED, 0, null, 0, "");
        public static final Result UNFINISHED = new Result(Status.UNFINISHED, 0, null, 0, "");
        public static final Result NO_RETURN = new Result(Status.NO_RETURN, 0, null, 0, "");

        public Result {
            Objects.requireNonNull(status, "status");
            text = Objects.requireNonNullElse(text, "");
        }
    }

    /**
     * One syscall argument.
     *
     * @param name  parameter name (e.g. "filename"), or "argN" for syscalls without a signature here
     * @param value the raw register value
     * @param text  decoded text as strace shows it (a quoted path, flags by name, AT_FDCWD, a struct); null when
     *              not decoded (then the value is shown)
     */
    record Arg(String name, long value, String text) {
        @Override
        public String toString() {
            return text != null ? text : value >= -4096 && value < 65536 ? Long.toString(value)
                    : "0x" + Long.toHexString(value);
        }
    }

    /** Where events were lost. */
    enum DropSite {
        /** The hypervisor's ring was full: the extension counted the records it could not write. */
        HYPERVISOR_RING,
        /** The session's own buffer was full: its subscriber read more slowly than the guest produced. */
        SESSION_BUFFER
    }

    /** Events were lost (never silently): {@code count} since the previous marker, at {@code site}. */
    record Dropped(long timestampNs, long count, DropSite site) implements TraceEvent {
        public Dropped {
            Objects.requireNonNull(site, "site");
        }
    }

    /** What happened to a traced process. */
    enum Change {
        /** It started running a new program (a new address space). */
        EXEC,
        /** The session started following it: a child of a traced process. */
        CHILD,
        /** It exited. */
        EXIT
    }

    /**
     * A traced process changed.
     *
     * @param detail EXEC: the new command line; CHILD: "child of PPID"; EXIT: empty
     */
    record ProcessChange(long timestampNs, Change change, int pid, String process, String detail)
            implements TraceEvent {
        public ProcessChange {
            Objects.requireNonNull(change, "change");
            process = Objects.requireNonNullElse(process, "");
            detail = Objects.requireNonNullElse(detail, "");
        }
    }

    /** The session ended: the last event of its stream. */
    record Ended(long timestampNs, TraceEnd end) implements TraceEvent {
        public Ended {
            Objects.requireNonNull(end, "end");
        }
    }
}
