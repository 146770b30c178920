package dev.periscope.session;

import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.fleet.VmId;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Positive;
import jakarta.validation.constraints.Size;
import java.time.Duration;
import java.util.List;

/**
 * What a client asks for when it opens a session. Absent limits take the server's defaults.
 *
 * @param vm                 the VM
 * @param kind               process lists or a trace
 * @param method             monitoring method, M1 when absent
 * @param targetPid          the traced process (a trace needs it or {@code targetProcess})
 * @param targetProcess      the traced process by name (its comm; the lowest pid if several) when no pid is given
 * @param syscalls           trace only these syscalls (names, e.g. read, openat); all when absent or empty
 * @param mode               how process lists are taken: snapshot (default), pause or live
 * @param intervalSeconds    seconds between process lists (default 5)
 * @param maxDurationSeconds lifetime; the server's default when absent
 * @param maxEvents          events delivered before the session ends; the server's default when absent
 */
public record SessionSpec(
        @NotBlank @Pattern(regexp = VmId.PATTERN, message = "must be a VM name, or NAME@HOST") String vm,
        @NotNull SessionKind kind,
        TraceMethod method,
        @Positive Integer targetPid,
        @Pattern(regexp = "[^/\\s]{1,15}", message = "must be a process name (comm): 1 to 15 characters, no '/' or space")
        String targetProcess,
        @Size(max = 64) List<@Pattern(regexp = "[a-z0-9_]{1,32}", message = "must be syscall names like openat")
                String> syscalls,
        @Pattern(regexp = "snapshot|pause|live", message = "must be one of snapshot, pause, live") String mode,
        @Min(1) @Max(3600) Integer intervalSeconds,
        @Min(1) @Max(7 * 86400) Integer maxDurationSeconds,
        @Min(1) @Max(100_000_000) Long maxEvents) {

    /** The same spec with every default filled in, so that equal requests compare equal. */
    SessionSpec normalized(Duration defaultDuration, long defaultEvents) {
        return new SessionSpec(vm, kind, method == null ? TraceMethod.M1 : method, targetPid,
                targetPid != null || targetProcess == null || targetProcess.isBlank() ? null : targetProcess,
                syscalls == null ? List.of() : syscalls.stream().distinct().sorted().toList(),
                mode == null ? "snapshot" : mode, intervalSeconds == null ? 5 : intervalSeconds,
                maxDurationSeconds == null ? (int) defaultDuration.toSeconds() : maxDurationSeconds,
                maxEvents == null ? defaultEvents : maxEvents);
    }
}
