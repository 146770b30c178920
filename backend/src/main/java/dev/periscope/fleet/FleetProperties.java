package dev.periscope.fleet;

import jakarta.validation.Valid;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Where the control plane finds its agents and how it trusts them. The defaults run the embedded server: one
 * in-process agent over the local QEMU lab (no network, no certificates), plus the Xen lab's dom0 agent while the
 * lab announces it.
 *
 * @param replica          this control-plane replica's name (its sessions are its own until it stops renewing them):
 *                         stable across restarts, unique among replicas; the machine's host name by default
 * @param embeddedAgent    the in-process agent of the embedded server
 * @param agents           agents at fixed addresses ({@code HOST:PORT}), e.g. compose service names ({@code in-process:NAME}
 *                         for an agent served inside this JVM: benchmarks and tests)
 * @param dns              a DNS name and port ({@code NAME:PORT}) whose every address is an agent, e.g. a Kubernetes
 *                         headless Service; re-resolved every {@code discoveryInterval}
 * @param endpointFiles    files that each name agents ({@code HOST:PORT} lines) while they exist: the Xen lab's
 * @param tls              the control plane's mutual-TLS files for remote agents
 * @param unreachableAfter an agent silent this long (no VM update, no heartbeat) is unreachable; its VMs are shown
 *                         so, and the sessions on them end lost
 * @param discoveryInterval how often static, DNS and file discovery is redone
 * @param callTimeout      the longest a single agent call (a process list) may take
 * @param sessionLease     a replica renews its sessions this often; another replica takes over a session whose
 *                         runner has not renewed it for three leases
 */
@Validated
@ConfigurationProperties("periscope.fleet")
public record FleetProperties(
        @Pattern(regexp = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}") String replica,
        @Valid @NotNull @DefaultValue EmbeddedAgent embeddedAgent,
        @NotNull @DefaultValue List<@Pattern(regexp = "[^\\s:]+:\\d{1,5}|in-process:\\S+",
                message = "must be HOST:PORT") String> agents,
        @Pattern(regexp = "[^\\s:]+:\\d{1,5}", message = "must be NAME:PORT") String dns,
        @NotNull @DefaultValue List<Path> endpointFiles,
        @Valid @NotNull @DefaultValue Tls tls,
        @NotNull @DefaultValue("6s") Duration unreachableAfter,
        @NotNull @DefaultValue("10s") Duration discoveryInterval,
        @NotNull @DefaultValue("30s") Duration callTimeout,
        @NotNull @DefaultValue("2s") Duration sessionLease) {

    /**
     * @param enabled whether this server runs an agent in-process (the embedded default)
     * @param host    that agent's host name in the fleet
     */
    public record EmbeddedAgent(@DefaultValue("true") boolean enabled,
                                @NotNull @Pattern(regexp = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}") @DefaultValue("local")
                                String host) {
    }

    /**
     * PEM files: the CA that signs agents' certificates, and this control plane's certificate and PKCS#8 key. Unset
     * paths default to {@code <var>/pki/ca.pem}, {@code control-plane.pem} and {@code control-plane.key} when those
     * exist (the lab makes them).
     */
    public record Tls(Path ca, Path certificate, Path privateKey) {
        /** These files, each falling back to its default in {@code pki} when unset. */
        Tls orDefaultsIn(Path pki) {
            return new Tls(ca != null ? ca : pki.resolve("ca.pem"),
                    certificate != null ? certificate : pki.resolve("control-plane.pem"),
                    privateKey != null ? privateKey : pki.resolve("control-plane.key"));
        }

        boolean present() {
            return ca != null && certificate != null && privateKey != null && Files.isReadable(ca)
                    && Files.isReadable(certificate) && Files.isReadable(privateKey);
        }
    }

    /** This replica's name: {@link #replica} when set, else the machine's host name. */
    public String replicaName() {
        if (replica != null) {
            return replica;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "control-plane";
        }
    }

    public FleetProperties {
        if (unreachableAfter.isNegative() || unreachableAfter.isZero()) {
            throw new IllegalArgumentException("periscope.fleet.unreachable-after must be positive");
        }
    }
}
