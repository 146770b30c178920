package dev.periscope.fleet;

import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.trace.TraceMethod;
import java.time.Duration;

/** What a session runs on its agent. */
public sealed interface AgentSessionSpec {

    /**
     * A process-bound trace of {@code pid}, or of the lowest pid called {@code processName} when {@code pid} is null.
     */
    record Trace(Integer pid, String processName, TraceMethod method, boolean followChildren, boolean readStrings)
            implements AgentSessionSpec {
    }

    /** A process list every {@code interval}. */
    record ProcessLists(AcquisitionMode mode, Duration interval) implements AgentSessionSpec {
    }

    /**
     * The session as the agent opened it.
     *
     * @param pid          a trace's target, resolved
     * @param processName  its name
     * @param syscallNames where its syscall names come from (the guest's table, or the fallback)
     */
    record Opened(int pid, String processName, String syscallNames) {
    }
}
