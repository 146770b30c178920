package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A platform served by a {@link DriverServer} elsewhere (the Xen lab's dom0). Connects lazily and again after a
 * failure, so the server may come and go: while it is away, listing fails with
 * {@link PlatformUnavailableException} and attached domains with {@link VmGoneException}. Thread-safe.
 */
public final class RemoteDriver implements HypervisorDriver {

    /** What crosses the wire: memory, registers, pause, snapshots. A remote domain has no event channel. */
    private static final Set<Capability> SERVED = EnumSet.of(Capability.READ_MEMORY, Capability.VCPU_REGISTERS,
            Capability.PAUSE_RESUME, Capability.COW_SNAPSHOT);

    private final String platform;
    private final Supplier<Optional<RemoteEndpoint>> endpoint;
    private RemoteConnection listing;

    /**
     * @param platform the platform the server must serve (its domains carry this name), e.g. "xen"
     * @param endpoint where the server is now; empty while it is not running
     */
    public RemoteDriver(String platform, Supplier<Optional<RemoteEndpoint>> endpoint) {
        this.platform = platform;
        this.endpoint = endpoint;
    }

    static Set<Capability> overTheWire(Set<Capability> served) {
        Set<Capability> caps = EnumSet.noneOf(Capability.class);
        caps.addAll(served);
        caps.retainAll(SERVED);
        return caps;
    }

    @Override
    public String platform() {
        return platform;
    }

    @Override
    public List<DomainInfo> domains() {
        return list(out -> out.writeByte(Wire.DOMAINS), in -> {
            int n = in.readInt();
            if (n < 0 || n > 100_000) {
                throw new IOException("malformed domain list (" + n + " entries)");
            }
            List<DomainInfo> all = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                all.add(Wire.readInfo(in));
            }
            return List.copyOf(all);
        });
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return list(out -> {
            out.writeByte(Wire.DOMAIN);
            out.writeUTF(name);
        }, in -> in.readBoolean() ? Optional.of(Wire.readInfo(in)) : Optional.empty());
    }

    @Override
    public Set<Capability> capabilities(String name) {
        return overTheWire(list(out -> {
            out.writeByte(Wire.CAPABILITIES);
            out.writeUTF(name);
        }, Wire::readCapabilities));
    }

    @Override
    public Domain open(String name) {
        RemoteEndpoint at = endpoint().orElseThrow(() -> new VmGoneException(notRunning()));
        RemoteConnection connection;
        try {
            connection = connect(at, RemoteConnection.DOMAIN_TIMEOUT_MS);
        } catch (IOException e) {
            throw new VmGoneException("cannot reach the " + platform + " driver server at " + at + ": " + e.getMessage(), e);
        }
        try {
            return RemoteDomain.open(connection, name);
        } catch (IOException | RuntimeException e) {
            connection.close();
            if (e instanceof RuntimeException r) {
                throw r;
            }
            throw new VmGoneException("lost the " + platform + " driver server opening " + name + ": " + e.getMessage(), e);
        }
    }

    /** A call on the listing connection, (re)connecting first when needed. */
    private synchronized <T> T list(RemoteConnection.Request request, RemoteConnection.Response<T> response) {
        RemoteEndpoint at = endpoint().orElseThrow(() -> new PlatformUnavailableException(notRunning()));
        try {
            if (listing == null || listing.broken()) {
                listing = connect(at, RemoteConnection.LISTING_TIMEOUT_MS);
            }
            return listing.call(request, response);
        } catch (IOException e) {
            throw new PlatformUnavailableException("the " + platform + " driver server at " + at + " does not answer: "
                    + e.getMessage(), e);
        }
    }

    private Optional<RemoteEndpoint> endpoint() {
        try {
            return endpoint.get();
        } catch (IllegalArgumentException e) {
            throw new PlatformUnavailableException(e.getMessage(), e);
        }
    }

    private RemoteConnection connect(RemoteEndpoint at, int readTimeoutMs) throws IOException {
        RemoteConnection c = new RemoteConnection(at, readTimeoutMs);
        if (!c.platform().equals(platform)) {
            c.close();
            throw new IOException("the server at " + at + " serves " + c.platform() + ", not " + platform);
        }
        return c;
    }

    private String notRunning() {
        return "no " + platform + " driver server is running";
    }

    @Override
    public synchronized void close() {
        if (listing != null) {
            listing.close();
            listing = null;
        }
    }
}
