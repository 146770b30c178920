package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;
import dev.periscope.vmi.nativeapi.xen.periscope_xen_domain_info;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The Xen platform ("xen"): lists the host's domains (dom0 excluded) and attaches to them through
 * libperiscope-xen. Thread-safe: calls into the shim's interface handle are serialised.
 */
public final class XenDriver implements HypervisorDriver {
    public static final String PLATFORM = "xen";

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private boolean closed;

    /** The real library on a Xen dom0 (or the one named by -Dperiscope.xen.library, without options). */
    public XenDriver() {
        this(null);
    }

    /**
     * @param options the library's options: null for the real library; for the test double, its configuration
     *                file
     */
    public XenDriver(String options) {
        XenNative.load();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            MemorySegment opts = options == null ? MemorySegment.NULL : call.allocateFrom(options);
            XenStatus.check(PeriscopeXen.periscope_xen_open(opts, out), "opening Xen");
            handle = out.get(ValueLayout.ADDRESS, 0).reinterpret(arena, PeriscopeXen::periscope_xen_close);
        }
    }

    @Override
    public String platform() {
        return PLATFORM;
    }

    /** Domains as the shim reports them, with their ids, HVM flag and vCPU count. */
    synchronized List<XenDomainEntry> entries() {
        ensureOpen();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment count = call.allocate(ValueLayout.JAVA_INT);
            int capacity = 64;
            while (true) {
                MemorySegment infos = periscope_xen_domain_info.allocateArray(capacity, call);
                XenStatus.check(PeriscopeXen.periscope_xen_list(handle, infos, capacity, count), "listing domains");
                int n = count.get(ValueLayout.JAVA_INT, 0);
                if (n <= capacity) {
                    List<XenDomainEntry> out = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        out.add(XenDomainEntry.of(periscope_xen_domain_info.asSlice(infos, i)));
                    }
                    return out;
                }
                capacity = n;
            }
        }
    }

    @Override
    public List<DomainInfo> domains() {
        return entries().stream().map(XenDomainEntry::info).toList();
    }

    @Override
    public Optional<DomainInfo> domain(String name) {
        return find(name).map(XenDomainEntry::info);
    }

    /**
     * Without attaching: what any Xen 4.17 host offers for the domain. The Periscope hypervisor extensions
     * (filter, breakpoints, snapshots) are probed on attach and reported by {@link XenDomain#capabilities()}.
     */
    @Override
    public Set<Capability> capabilities(String name) {
        return find(name).filter(e -> !e.dying()).map(e -> {
            Set<Capability> caps = EnumSet.of(Capability.READ_MEMORY, Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME);
            if (e.hvm()) {
                caps.add(Capability.CR3_EVENTS);
                caps.add(Capability.SYNCHRONOUS_EVENTS);
            }
            return (Set<Capability>) caps;
        }).orElse(Set.of());
    }

    @Override
    public XenDomain open(String name) {
        XenDomainEntry e = find(name).orElseThrow(() -> new VmGoneException("no Xen domain named " + name));
        synchronized (this) {
            ensureOpen();
            return XenDomain.attach(handle, e.domid());
        }
    }

    private Optional<XenDomainEntry> find(String name) {
        return entries().stream().filter(e -> e.info().name().equals(name)).findFirst();
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("XenDriver is closed");
        }
    }

    /** Closes the interface; domains opened from it must be closed first. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
