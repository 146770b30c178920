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
     * A syscall entry of a traced process.
     *
     * @param vcpu    the vCPU it ran on
     * @param pid     the process (thread-group id), 0 when the engine could not attribute it
     * @param process that process's name, "" when unknown
     * @param number  syscall number
     * @param name    syscall name from the guest kernel's own table
     * @param args    named arguments with decoded text where the syscall is known, else the six raw registers
     */
    record Syscall(long timestampNs, int vcpu, int pid, String process, int number, String name, List<Arg> args)
            implements TraceEvent {
        public Syscall {
            process = Objects.requireNonNullElse(process, "");
            name = Objects.requireNonNullElse(name, "");
            args = List.copyOf(args);
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

        /** strace-like one-liner, e.g. {@code 1234 sh openat(AT_FDCWD, "/tmp/x", 0x241, 0644)}. */
        @Override
        public String toString() {
            StringBuilder b = new StringBuilder().append(pid).append(' ').append(process).append(' ').append(name)
                    .append('(');
            for (int i = 0; i < args.size(); i++) {
                b.append(i == 0 ? "" : ", ").append(args.get(i));
            }
            return b.append(')').toString();
        }
    }

    /**
     * One syscall argument.
     *
     * @param name  parameter name (e.g. "pathname"), or "argN" for syscalls without a signature here
     * @param value the raw register value
     * @param text  decoded text (a path, the start of a write buffer, AT_FDCWD, flags), null when not decoded
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
