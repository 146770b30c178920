package dev.periscope.vmi.trace;

import java.util.Objects;

/**
 * What a trace session watches and how.
 *
 * @param pid            the target process (thread-group id), or 0 when {@code processName} selects it
 * @param processName    the target's name as /proc shows it or its comm (lowest pid matching) when {@code pid}
 *                       is 0
 * @param method         the monitoring method (M5 is the production default: nothing waits for Java)
 * @param followChildren also trace processes the target forks, transitively, while the session runs
 * @param readStrings    decode path and buffer arguments; synchronous methods read them from guest memory
 *                       through the process's page tables while the vCPU waits, M5 uses the hypervisor's
 *                       pre-read copy (at most 64 bytes)
 * @param bufferSize     events buffered for this session before it drops (and later reports a drop marker)
 */
public record TraceRequest(int pid, String processName, TraceMethod method, boolean followChildren,
                           boolean readStrings, int bufferSize) {

    public static final int DEFAULT_BUFFER = 8192;

    public TraceRequest {
        Objects.requireNonNull(method, "method");
        if (pid < 0 || (pid == 0 && (processName == null || processName.isBlank()))) {
            throw new IllegalArgumentException("a trace needs a pid > 0 or a process name");
        }
        if (bufferSize < 16 || bufferSize > (1 << 20)) {
            throw new IllegalArgumentException("bufferSize must be within 16..1048576: " + bufferSize);
        }
        processName = pid > 0 ? null : processName;
    }

    /** Trace process {@code pid} with M5, strings decoded, children not followed. */
    public static TraceRequest pid(int pid) {
        return new TraceRequest(pid, null, TraceMethod.M5, false, true, DEFAULT_BUFFER);
    }

    /** Trace the process called {@code name} (comm; lowest pid if several) with M5. */
    public static TraceRequest process(String name) {
        return new TraceRequest(0, name, TraceMethod.M5, false, true, DEFAULT_BUFFER);
    }

    public TraceRequest withMethod(TraceMethod m) {
        return new TraceRequest(pid, processName, m, followChildren, readStrings, bufferSize);
    }

    public TraceRequest withChildren(boolean follow) {
        return new TraceRequest(pid, processName, method, follow, readStrings, bufferSize);
    }

    public TraceRequest withStrings(boolean read) {
        return new TraceRequest(pid, processName, method, followChildren, read, bufferSize);
    }

    public TraceRequest withBufferSize(int size) {
        return new TraceRequest(pid, processName, method, followChildren, readStrings, size);
    }

    /** "pid 42" or "process paper-shell", for messages. */
    public String target() {
        return pid > 0 ? "pid " + pid : "process " + processName;
    }
}
