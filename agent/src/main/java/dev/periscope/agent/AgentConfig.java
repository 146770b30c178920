package dev.periscope.agent;

import dev.periscope.vmi.driver.libvirt.LibvirtConfig;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * How an agent runs, validated when it is built: every problem is reported at start-up with the option's name.
 * Options come from {@code --name=value} arguments or {@code PERISCOPE_AGENT_NAME} environment variables (arguments
 * win).
 *
 * @param host          the host's name in the fleet (default: this machine's host name)
 * @param listen        where the agent API listens (mutual TLS)
 * @param tls           the agent's certificate, key and the CA that signs control planes' certificates
 * @param metrics       where Prometheus metrics and health answer over plain HTTP ({@code /actuator/prometheus},
 *                      {@code /actuator/health}); null for none
 * @param labDir        the directory holding the QEMU lab's {@code lab/} (its VMs are this host's), null for none
 * @param xen           whether this host is a Xen dom0 (its domains are this host's)
 * @param libvirt       the local libvirt whose QEMU/KVM domains are this host's, null for none
 * @param engineThreads threads reading guest memory
 * @param orphanTimeout how long a session runs with nobody subscribed
 */
public record AgentConfig(String host, InetSocketAddress listen, TlsFiles tls, InetSocketAddress metrics, Path labDir,
                          boolean xen, LibvirtConfig libvirt, int engineThreads, Duration orphanTimeout) {

    static final List<String> OPTIONS = List.of("host", "listen", "tls-ca", "tls-cert", "tls-key", "metrics",
            "lab-dir", "xen", "libvirt", "libvirt-uri", "engine-threads", "orphan-timeout");

    public AgentConfig {
        if (engineThreads < 1 || engineThreads > 64) {
            throw new IllegalArgumentException("--engine-threads must be within 1..64: " + engineThreads);
        }
        if (orphanTimeout.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("--orphan-timeout must be at least 1s: " + orphanTimeout);
        }
    }

    /**
     * Whether this host has none of the platforms: possible where Xen and libvirt are left to {@code auto} and found
     * on neither (a node of a DaemonSet that is no hypervisor host); the agent then runs, serves no VM and is not ready.
     */
    boolean servesNoPlatform() {
        return labDir == null && !xen && libvirt == null;
    }

    /** The configuration from {@code args} over {@code env}. */
    static AgentConfig parse(String[] args, Map<String, String> env) {
        Map<String, String> options = new HashMap<>();
        for (String name : OPTIONS) {
            String v = env.get("PERISCOPE_AGENT_" + name.toUpperCase(Locale.ROOT).replace('-', '_'));
            if (v != null && !v.isBlank()) {
                options.put(name, v);
            }
        }
        for (String a : args) {
            int eq = a.indexOf('=');
            if (!a.startsWith("--") || eq < 0) {
                throw new IllegalArgumentException("arguments are --name=value, not '" + a + "'");
            }
            String name = a.substring(2, eq);
            if (!OPTIONS.contains(name)) {
                throw new IllegalArgumentException("unknown option --" + name + " (options: " + OPTIONS + ")");
            }
            options.put(name, a.substring(eq + 1));
        }
        if (!options.containsKey("lab-dir") && "off".equals(options.get("xen")) && "off".equals(options.get("libvirt"))) {
            throw new IllegalArgumentException("the agent would serve no platform: give --lab-dir, --xen or --libvirt");
        }
        boolean onXen = onOffAuto(options, "xen", () -> Files.exists(Path.of("/dev/xen/privcmd")));
        LibvirtConfig libvirt = onOffAuto(options, "libvirt", LibvirtConfig::systemDaemonPresent)
                ? new LibvirtConfig(options.getOrDefault("libvirt-uri", LibvirtConfig.SYSTEM_URI),
                LibvirtConfig.SYSTEM_STATE_DIR, Path.of("/dev/shm")) : null;
        return new AgentConfig(options.getOrDefault("host", localHostName()),
                address("listen", options.getOrDefault("listen", "0.0.0.0:7443")),
                new TlsFiles(path(options, "tls-ca"), path(options, "tls-cert"), path(options, "tls-key")),
                options.containsKey("metrics") ? address("metrics", options.get("metrics")) : null,
                options.containsKey("lab-dir") ? Path.of(options.get("lab-dir")) : null, onXen, libvirt,
                integer("engine-threads", options.getOrDefault("engine-threads", "4")),
                duration("orphan-timeout", options.getOrDefault("orphan-timeout", "60s")));
    }

    /** An on/off/auto option; auto asks {@code present}. */
    private static boolean onOffAuto(Map<String, String> options, String name, BooleanSupplier present) {
        String v = options.getOrDefault(name, "auto");
        return switch (v) {
            case "on" -> true;
            case "off" -> false;
            case "auto" -> present.getAsBoolean();
            default -> throw new IllegalArgumentException("--" + name + " must be on, off or auto, not '" + v + "'");
        };
    }

    private static Path path(Map<String, String> options, String name) {
        String v = options.get(name);
        if (v == null) {
            throw new IllegalArgumentException("--" + name + " is required (the agent API is mutual TLS only)");
        }
        return Path.of(v);
    }

    private static InetSocketAddress address(String name, String value) {
        int colon = value.lastIndexOf(':');
        try {
            return new InetSocketAddress(value.substring(0, colon), Integer.parseInt(value.substring(colon + 1)));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--" + name + " must be HOST:PORT, not '" + value + "'");
        }
    }

    private static int integer(String name, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a number, not '" + value + "'");
        }
    }

    /** "60s", "2m", or an ISO-8601 duration. */
    private static Duration duration(String name, String value) {
        try {
            if (value.matches("\\d+[smh]")) {
                return Duration.parse("PT" + value.toUpperCase(Locale.ROOT));
            }
            return Duration.parse(value);
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("--" + name + " must be a duration such as 60s, not '" + value + "'");
        }
    }

    private static String localHostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }
}
