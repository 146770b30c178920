package dev.periscope.fleet;

import java.util.Objects;
import java.util.Optional;

/**
 * A VM's identity in the fleet: its name on its host, and the host. Written {@code name@host} in the API, the CLI
 * and the dashboard (a VM name is unique on its host, a host name in the fleet).
 */
public record VmId(String name, String host) {

    /** A VM reference as requests give it: a VM name, or {@code name@host}. */
    public static final String PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[A-Za-z0-9][A-Za-z0-9._-]{0,62})?";

    public VmId {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(host, "host");
    }

    /** {@code name@host}, or empty when {@code text} names no host (a bare VM name). */
    public static Optional<VmId> parse(String text) {
        int at = text.lastIndexOf('@');
        if (at <= 0 || at == text.length() - 1) {
            return Optional.empty();
        }
        return Optional.of(new VmId(text.substring(0, at), text.substring(at + 1)));
    }

    @Override
    public String toString() {
        return name + "@" + host;
    }
}
