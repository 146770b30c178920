package dev.periscope.fleet;

import dev.periscope.vmi.linux.ProcessList;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEvent;
import java.time.Instant;

/**
 * A message of a session running on an agent, read back into the engine's own records (the control plane's side of
 * the agent API).
 *
 * @param seq  its number in the session's stream (resume after it), 0 for drop markers
 * @param at   when it happened, on the agent's host clock
 * @param body what it carries
 */
public record AgentMessage(long seq, Instant at, Body body) {

    /** What a message carries. */
    public sealed interface Body permits Syscall, ProcessChange, Dropped, Overhead, Processes, Notice, Ended {
    }

    /** A syscall of a traced process; its time is the message's. */
    public record Syscall(TraceEvent.Syscall call) implements Body {
    }

    public record ProcessChange(TraceEvent.ProcessChange change) implements Body {
    }

    /** Where messages were lost before they reached this control plane. */
    public enum DropSite {
        /** The hypervisor's ring was full. */
        HYPERVISOR_RING,
        /** The engine's buffer for the session was full. */
        SESSION_BUFFER,
        /** This control plane read the agent's stream too slowly. */
        AGENT_STREAM,
        /** A resumed stream began after messages the agent no longer keeps. */
        REPLAY
    }

    public record Dropped(long count, DropSite site) implements Body {
    }

    /** What the session cost so far (counted since it started). */
    public record Overhead(OverheadSnapshot sample) implements Body {
    }

    /** A process list of a process-list session, and the kernel it was read from. */
    public record Processes(ProcessList list, KernelSeen kernel) implements Body {
    }

    public record Notice(String message) implements Body {
    }

    /** Why a session on an agent ended. */
    public enum EndReason {
        CLOSED, TARGET_EXITED, VM_GONE, ENGINE_CLOSED, FAILED,
        /** Nobody subscribed for the agent's orphan timeout (a control plane was gone). */
        ORPHANED
    }

    /** The session ended: the last message. */
    public record Ended(EndReason reason, String detail) implements Body {
    }
}
