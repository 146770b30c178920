package dev.periscope.session;

import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.periscope.process.ProcessListView;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One event of a session's stream, as SSE and NDJSON carry it: {@code {"id", "session", "type", "at", "data"}}, where
 * {@code type} names the payload's record ({@link Type}) and {@code data} is that record. {@code id} grows
 * monotonically and means the same on every replica and across restarts (it is derived from the agent's message
 * numbers), so a client that reconnects anywhere with {@code Last-Event-ID} gets what it missed; the drop markers of
 * a subscriber's own stream carry no id ({@code -1}).
 *
 * @param id      event id, -1 for a stream's own drop markers
 * @param session the session
 * @param type    what {@code data} is
 * @param at      when it happened
 * @param data    the payload
 */
public record SessionEvent(long id, String session, Type type, Instant at, Payload data) {

    public SessionEvent {
        Objects.requireNonNull(data, "data");
        if (type != data.type()) {
            throw new IllegalArgumentException(type + " event with a " + data.getClass().getSimpleName() + " payload");
        }
    }

    static SessionEvent of(long id, String session, Instant at, Payload data) {
        return new SessionEvent(id, session, data.type(), at, data);
    }

    /** The kinds of event, each with one payload record; the wire name is the lower-case name. */
    public enum Type {
        STATE(StateChange.class), PROCESSES(Processes.class), NOTICE(Notice.class), TRACE(TraceStarted.class),
        SYSCALL(Syscall.class), PROCESS(ProcessChange.class), DROPPED(Dropped.class);

        private final Class<? extends Payload> payload;

        Type(Class<? extends Payload> payload) {
            this.payload = payload;
        }

        /** The record {@code data} holds for this type. */
        public Class<? extends Payload> payload() {
            return payload;
        }

        /** As SSE event names and NDJSON's {@code type} spell it. */
        @JsonValue
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The type called {@code wireName}, e.g. "syscall". */
        public static Type of(String wireName) {
            return valueOf(wireName.toUpperCase(Locale.ROOT));
        }
    }

    /** What an event carries. */
    public sealed interface Payload permits StateChange, Processes, Notice, TraceStarted, Syscall, ProcessChange,
            Dropped {
        Type type();
    }

    /**
     * The session moved to {@code state}.
     *
     * @param end    why it ended, for the final states; null otherwise
     * @param reason what happened, for people
     */
    public record StateChange(SessionState state, SessionEnd end, String reason) implements Payload {
        @Override
        public Type type() {
            return Type.STATE;
        }
    }

    /** A process list of a process-list session. */
    public record Processes(@JsonUnwrapped ProcessListView list) implements Payload {
        @Override
        public Type type() {
            return Type.PROCESSES;
        }
    }

    /** Something the session's owner should know that did not end it (a process list that failed and is retried). */
    public record Notice(String message) implements Payload {
        @Override
        public Type type() {
            return Type.NOTICE;
        }
    }

    /** The trace began: whom it traces, how, and where its syscall names come from. */
    public record TraceStarted(int pid, String name, TraceMethod method, String methodDescription,
                               List<String> syscalls, String syscallNames) implements Payload {
        @Override
        public Type type() {
            return Type.TRACE;
        }
    }

    /**
     * One syscall of a traced process, with how it ended when its VM's platform reports returns.
     *
     * @param time        when the guest entered it
     * @param name        the process's name
     * @param syscall     the syscall's name
     * @param args        its arguments as strace shows them (none for calls that take none)
     * @param status      RETURNED, UNFINISHED (no return seen: still running when the trace ended, its process
     *                    exited, or its return was lost), NO_RETURN (exit, exit_group) or NOT_TRACED (the platform
     *                    reports entries only)
     * @param returnValue RETURNED: the value as the guest saw it (-4095..-1 is -errno); null otherwise
     * @param errno       RETURNED with a failure: the error's name, e.g. "ENOENT"; null otherwise
     * @param durationNs  RETURNED: from entry to return; null otherwise
     * @param result      RETURNED: the value as strace shows it ("3", "0x7f3a1c000000",
     *                    "-1 ENOENT (No such file or directory)"); "" otherwise
     * @param text        the strace-like line, e.g.
     *                    {@code 42 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000021>}
     */
    public record Syscall(Instant time, int vcpu, int pid, String name, String syscall, int number, List<Arg> args,
                          TraceEvent.Status status, Long returnValue, String errno, Long durationNs, String result,
                          String text) implements Payload {
        /** The engine's syscall event, which the guest entered at {@code time}. */
        public static Syscall of(TraceEvent.Syscall e, Instant time) {
            TraceEvent.Result r = e.result();
            boolean returned = r.status() == TraceEvent.Status.RETURNED;
            return new Syscall(time, e.vcpu(), e.pid(), e.process(), e.name(), e.number(),
                    e.args().stream().map(a -> new Arg(a.name(), a.value(), a.text())).toList(), r.status(),
                    returned ? r.value() : null, r.errno(), returned ? r.durationNs() : null, r.text(), e.toString());
        }

        @Override
        public Type type() {
            return Type.SYSCALL;
        }
    }

    /** One argument: the raw register value, and its decoded text (a path, a buffer, flags by name, a struct). */
    public record Arg(String name, long value, String text) {
    }

    /** A traced process exec'd, a child is followed, a traced process exited. */
    public record ProcessChange(TraceEvent.Change change, int pid, String name, String detail) implements Payload {
        @Override
        public Type type() {
            return Type.PROCESS;
        }
    }

    /** Where events were lost before they reached this stream. */
    public enum DropSite {
        /** The hypervisor's ring was full. */
        HYPERVISOR_RING,
        /** The engine's buffer for this session was full: its agent read it too slowly. */
        SESSION_BUFFER,
        /** The agent's buffer for this server was full: the server read the agent's stream too slowly. */
        AGENT_STREAM,
        /**
         * A resumed stream began after what is no longer kept (by the agent, or by the control plane's replay): the
         * count is of the agent's messages; the drop markers among them come as their own markers, with their counts.
         */
        REPLAY,
        /** This subscriber read its stream too slowly: the oldest events in its buffer were dropped. */
        STREAM
    }

    /** {@code count} events lost at {@code where} before the next one. */
    public record Dropped(long count, DropSite where) implements Payload {
        @Override
        public Type type() {
            return Type.DROPPED;
        }
    }

    /** A subscriber's own marker (no id): {@code count} events lost at {@code where} before the next one. */
    static SessionEvent dropped(String session, long count, DropSite where) {
        return of(-1, session, Instant.now(), new Dropped(count, where));
    }
}
