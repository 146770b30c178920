package dev.periscope.session;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import jakarta.validation.constraints.Positive;
import java.time.Duration;

/**
 * What a client asks for when it opens a session. Absent limits take the server's defaults.
 *
 * @param vm                 the VM
 * @param kind               process lists or a trace
 * @param method             monitoring method, M1 when absent
 * @param targetPid          the traced process (required for traces)
 * @param mode               how process lists are taken: snapshot (default), pause or live
 * @param intervalSeconds    seconds between process lists (default 5)
 * @param maxDurationSeconds lifetime; the server's default when absent
 * @param maxEvents          events delivered before the session ends; the server's default when absent
 */
public record SessionSpec(
        @NotBlank @Pattern(regexp = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}") String vm,
        @NotNull SessionKind kind,
        Method method,
        @Positive Integer targetPid,
        @Pattern(regexp = "snapshot|pause|live", message = "must be one of snapshot, pause, live") String mode,
        @Min(1) @Max(3600) Integer intervalSeconds,
        @Min(1) @Max(7 * 86400) Integer maxDurationSeconds,
        @Min(1) @Max(100_000_000) Long maxEvents) {

    /** The same spec with every default filled in, so that equal requests compare equal. */
    SessionSpec normalized(Duration defaultDuration, long defaultEvents) {
        return new SessionSpec(vm, kind, method == null ? Method.M1 : method, targetPid,
                mode == null ? "snapshot" : mode, intervalSeconds == null ? 5 : intervalSeconds,
                maxDurationSeconds == null ? (int) defaultDuration.toSeconds() : maxDurationSeconds,
                maxEvents == null ? defaultEvents : maxEvents);
    }
}
