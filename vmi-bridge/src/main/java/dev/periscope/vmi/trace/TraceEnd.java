package dev.periscope.vmi.trace;

import java.util.Locale;
import java.util.Objects;

/**
 * Why a trace session ended: a reason callers decide on, and a detail for people.
 *
 * @param reason what ended it
 * @param detail what exactly happened (an error message, a pid), "" when the reason says it all
 */
public record TraceEnd(Reason reason, String detail) {

    /** What ends a trace session. */
    public enum Reason {
        /** Its owner closed it. */
        CLOSED,
        /** The traced process exited. */
        TARGET_EXITED,
        /** The VM stopped, crashed, restarted or its hypervisor extension detached. */
        VM_GONE,
        /** The engine shut down. */
        ENGINE_CLOSED,
        /** The engine failed while tracing (a bug: the detail says what). */
        FAILED
    }

    public TraceEnd {
        Objects.requireNonNull(reason, "reason");
        detail = Objects.requireNonNullElse(detail, "");
    }

    public static TraceEnd of(Reason reason) {
        return new TraceEnd(reason, "");
    }

    @Override
    public String toString() {
        String r = reason.name().toLowerCase(Locale.ROOT).replace('_', ' ');
        return detail.isEmpty() ? r : r + ": " + detail;
    }
}
