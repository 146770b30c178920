package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.nativeapi.libvirt.Libvirt;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * An open libvirt connection ({@code virConnectPtr}), owned with its own arena: closing it closes the connection
 * (libvirt keeps it alive until the last domain handle taken from it is freed too). libvirt's connections are
 * thread-safe; closing must not race a call, which {@link LibvirtDriver} ensures.
 */
final class LibvirtConnection implements AutoCloseable {

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final String uri;

    private LibvirtConnection(String uri, MemorySegment connection) {
        this.uri = uri;
        this.handle = connection.reinterpret(arena, c -> Libvirt.virConnectClose(c));
    }

    /** @throws dev.periscope.vmi.PlatformUnavailableException libvirt is not installed, not running, or refuses */
    static LibvirtConnection open(String uri) {
        LibvirtNative.load();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment connection = Libvirt.virConnectOpen(call.allocateFrom(uri));
            if (connection.equals(MemorySegment.NULL)) {
                throw LibvirtError.last().forPlatform("connecting to libvirt at " + uri);
            }
            return new LibvirtConnection(uri, connection);
        }
    }

    String uri() {
        return uri;
    }

    /** Whether the connection still reaches libvirtd (false after the daemon restarted). */
    boolean alive() {
        boolean alive = Libvirt.virConnectIsAlive(handle) == 1;
        if (!alive) {
            Libvirt.virResetLastError();
        }
        return alive;
    }

    /** Every domain libvirt knows, defined or running; the caller closes each handle. */
    List<LibvirtDomainHandle> domains() {
        List<LibvirtDomainHandle> out = new ArrayList<>();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment array = call.allocate(ValueLayout.ADDRESS);
            int n = Libvirt.virConnectListAllDomains(handle, array, 0);
            if (n < 0) {
                throw LibvirtError.last().forPlatform("listing the domains of " + uri);
            }
            MemorySegment domains = array.get(ValueLayout.ADDRESS, 0).reinterpret(ValueLayout.ADDRESS.byteSize() * n);
            try {
                for (int i = 0; i < n; i++) {
                    out.add(new LibvirtDomainHandle(domains.getAtIndex(ValueLayout.ADDRESS, i)));
                }
            } finally {
                Libvirt.free(domains);
            }
        } catch (RuntimeException e) {
            out.forEach(LibvirtDomainHandle::close);
            throw e;
        }
        return out;
    }

    /** The domain called {@code name}, if libvirt knows one; the caller closes it. */
    Optional<LibvirtDomainHandle> lookup(String name) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment domain = Libvirt.virDomainLookupByName(handle, call.allocateFrom(name));
            if (domain.equals(MemorySegment.NULL)) {
                LibvirtError error = LibvirtError.last();
                if (error.noDomain()) {
                    return Optional.empty();
                }
                throw error.forPlatform("looking up domain " + name + " at " + uri);
            }
            return Optional.of(new LibvirtDomainHandle(domain));
        }
    }

    @Override
    public void close() {
        try {
            arena.close();
        } catch (IllegalStateException alreadyClosed) {
            // closing twice is harmless
        }
    }
}
