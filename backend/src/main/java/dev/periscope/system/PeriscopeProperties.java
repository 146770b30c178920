package dev.periscope.system;

import dev.periscope.vmi.driver.image.ImageDirectory;
import dev.periscope.vmi.driver.image.RawLayout;
import dev.periscope.vmi.driver.libvirt.LibvirtConfig;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Server configuration. The defaults run the lab with no configuration at all.
 *
 * @param varDir      runtime directory: lab VMs ({@code lab/}), bootstrap credentials, database ({@code db/})
 * @param labVarDir   where the lab's VMs live ({@code <labVarDir>/lab/}) when not under {@code varDir}: lets a second
 *                    server (a test run beside {@code ./periscope up}) see the same VMs with its own database
 * @param readThreads threads of the bounded scheduler for the control plane's blocking calls (never the event loop)
 * @param readQueue   reads that may wait for a thread before requests are refused
 * @param demoData    on first start with an empty database, create the demo tenants acme and globex and their users
 * @param sessions    limits of VMI sessions and their streams
 * @param limits      rate limits on login failures and token use
 * @param archive     bounds of the syscall archive
 * @param xenLab      where the Xen lab announces its dom0 agent, so its domains join the fleet
 * @param libvirt     the libvirt on this host whose QEMU/KVM domains the embedded agent serves
 * @param images      the directory of memory image files the embedded agent serves as read-only VMs
 */
@Validated
@ConfigurationProperties("periscope")
public record PeriscopeProperties(
        @NotNull @DefaultValue("var") Path varDir,
        Path labVarDir,
        @Min(1) @Max(64) @DefaultValue("4") int readThreads,
        @Min(1) @Max(100_000) @DefaultValue("256") int readQueue,
        @DefaultValue("true") boolean demoData,
        @Valid @NotNull @DefaultValue Sessions sessions,
        @Valid @NotNull @DefaultValue Limits limits,
        @Valid @NotNull @DefaultValue Archive archive,
        @Valid @NotNull @DefaultValue XenLab xenLab,
        @Valid @NotNull @DefaultValue Libvirt libvirt,
        @Valid @NotNull @DefaultValue Images images) {

    /** The directory holding {@code lab/}: {@link #labVarDir} when set, else {@link #varDir}. */
    public Path labDirectory() {
        return labVarDir != null ? labVarDir : varDir;
    }

    /**
     * The endpoint file the Xen lab writes once the agent runs in its dom0 ({@code HOST:PORT}; the lab removes it on
     * {@code down}).
     */
    public Path xenEndpointFile() {
        return xenLab.endpointFile() != null ? xenLab.endpointFile()
                : labDirectory().resolve("lab").resolve("xen").resolve("machine").resolve("agent.endpoint");
    }

    /**
     * @param enabled      whether the fleet includes the Xen lab's dom0 agent (while its endpoint file exists)
     * @param endpointFile the Xen lab's endpoint file, when not {@code <lab directory>/lab/xen/machine/agent.endpoint}
     */
    public record XenLab(@DefaultValue("true") boolean enabled, Path endpointFile) {
    }

    /**
     * @param enabled     whether the fleet includes libvirt's domains; unset: yes when a system libvirt daemon's socket
     *                    exists on this host
     * @param uri         libvirt connection URI (the domains' QEMU processes must run on this host)
     * @param stateDir    where libvirt's QEMU driver writes each running domain's {@code NAME.pid}
     * @param snapshotDir where copy-on-write snapshot files are written (each deleted after its use)
     */
    public record Libvirt(Boolean enabled, @NotBlank @DefaultValue(LibvirtConfig.SYSTEM_URI) String uri,
                          @NotNull @DefaultValue("/run/libvirt/qemu") Path stateDir,
                          @NotNull @DefaultValue("/dev/shm") Path snapshotDir) {

        public boolean active() {
            return enabled != null ? enabled : LibvirtConfig.systemDaemonPresent();
        }

        /** The driver's configuration; its checks (an URI, absolute directories) fail start-up with the reason. */
        public LibvirtConfig config() {
            return new LibvirtConfig(uri, stateDir.toAbsolutePath(), snapshotDir.toAbsolutePath());
        }
    }

    /**
     * @param dir       the directory whose files (raw RAM, ELF cores, QEMU mapped-ram snapshots) are served as VMs of
     *                  platform "image"; unset: none
     * @param rawLayout how its raw RAM files are laid out: q35 (a q35 guest's RAM file, the default), flat (file
     *                  offset is the guest physical address, as {@code pmemsave} writes) or i440fx
     */
    public record Images(Path dir, @NotNull @DefaultValue("q35") RawLayout rawLayout) {

        /** The directory the embedded agent serves, when {@link #dir} is set. */
        public Optional<ImageDirectory> directory() {
            return Optional.ofNullable(dir).map(d -> new ImageDirectory(d, rawLayout));
        }
    }

    /**
     * @param defaultMaxDuration  a session's lifetime when its creator names none
     * @param ceilingMaxDuration  the longest lifetime anyone may ask for
     * @param defaultMaxEvents    events a session delivers before it ends, when its creator names no limit
     * @param streamBuffer        events buffered per stream subscriber before the oldest are dropped (and counted)
     * @param replayEvents        recent events kept per session for reconnecting clients (Last-Event-ID)
     * @param requestTtl          how long a submitted self-service request waits for a decision before it expires
     */
    public record Sessions(
            @NotNull @DefaultValue("10m") Duration defaultMaxDuration,
            @NotNull @DefaultValue("24h") Duration ceilingMaxDuration,
            @Min(1) @DefaultValue("100000") long defaultMaxEvents,
            @Min(1) @Max(1_000_000) @DefaultValue("256") int streamBuffer,
            @Min(1) @Max(100_000) @DefaultValue("512") int replayEvents,
            @NotNull @DefaultValue("24h") Duration requestTtl) {
    }

    /**
     * @param loginFailures        failed logins (form or bearer) per client address before it must wait
     * @param loginFailuresPerUser failed form logins per user name, from any address, before that name must wait (a
     *                             guesser spread over many addresses)
     * @param loginFailureRefill   how often one failed attempt is forgiven
     * @param tokenBurst           requests one principal may make at once
     * @param tokenPerSecond       sustained requests per second per principal
     */
    public record Limits(
            @Min(1) @DefaultValue("10") int loginFailures,
            @Min(1) @DefaultValue("30") int loginFailuresPerUser,
            @NotNull @DefaultValue("6s") Duration loginFailureRefill,
            @Min(1) @DefaultValue("200") int tokenBurst,
            @Min(1) @DefaultValue("100") int tokenPerSecond) {
    }

    /**
     * @param maxRows     syscall records kept at most (the oldest go first)
     * @param retention   syscall records older than this are deleted
     * @param sweep       how often the retention job runs
     * @param diskReserve free space the archive leaves on the embedded database's disk: below it syscall records are
     *                    not archived (and counted), so that the archive never fills the disk H2 needs to stay intact
     */
    public record Archive(
            @Min(1) @DefaultValue("1000000") long maxRows,
            @NotNull @DefaultValue("24h") Duration retention,
            @NotNull @DefaultValue("1m") Duration sweep,
            @NotNull @DefaultValue("256MB") DataSize diskReserve) {
    }
}
