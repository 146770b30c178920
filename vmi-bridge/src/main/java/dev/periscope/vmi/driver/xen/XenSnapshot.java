package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A copy-on-write snapshot kept by the patched hypervisor: the guest keeps running, first writes are copied
 * into a pool, and reads see the memory as it was at {@link #takenAt()}. Pages are copied into Java as they are
 * read. Registers are read right after the snapshot began (the guest was not stopped, so they are the nearest
 * consistent values, not exact). Thread-safe.
 */
final class XenSnapshot implements MemorySnapshot {
    private final Arena arena = Arena.ofShared();
    private final XenDomain domain;
    private final MemorySegment handle;
    private final Instant takenAt;
    private final Duration total;
    private final Duration begin;
    private final Map<Integer, VcpuRegisters> registers = new HashMap<>();
    private final SnapshotMemory memory;
    private boolean closed;

    private XenSnapshot(XenDomain domain, MemorySegment raw, long size, long started, long begun) {
        this.domain = domain;
        this.begin = Duration.ofNanos(begun - started);
        this.handle = raw.reinterpret(arena, s -> PeriscopeXen.periscope_xen_snapshot_end(s));
        this.takenAt = Instant.now();
        int vcpus = domain.vcpuCount();
        for (int v = 0; v < vcpus; v++) {
            registers.put(v, domain.registers(v));
        }
        this.total = Duration.ofNanos(System.nanoTime() - started);
        this.memory = new SnapshotMemory(size);
    }

    static XenSnapshot begin(XenDomain domain, int poolPages, long size) {
        long started = System.nanoTime();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            XenStatus.check(PeriscopeXen.periscope_xen_snapshot_begin(domain.handle(), poolPages, out),
                    "snapshot of domain " + domain.domid());
            long begun = System.nanoTime();
            MemorySegment raw = out.get(ValueLayout.ADDRESS, 0);
            try {
                return new XenSnapshot(domain, raw, size, started, begun);
            } catch (RuntimeException e) {
                PeriscopeXen.periscope_xen_snapshot_end(raw);
                throw e;
            }
        }
    }

    @Override
    public PhysicalMemory memory() {
        return memory;
    }

    @Override
    public VcpuRegisters registers(int vcpu) {
        VcpuRegisters r = registers.get(vcpu);
        if (r == null) {
            throw new IllegalArgumentException("no vCPU " + vcpu);
        }
        return r;
    }

    @Override
    public Instant takenAt() {
        return takenAt;
    }

    /**
     * An upper bound: the wall time of the shim's begin call, within which Xen pauses the domain to make its RAM
     * read-only (then maps the pool); after it the guest runs, each first write costing one page copy in Xen.
     */
    @Override
    public Duration guestDowntime() {
        return begin;
    }

    @Override
    public Duration totalTime() {
        return total;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    private synchronized byte[] page(long gfn) {
        if (closed) {
            throw new VmGoneException("snapshot of Xen domain " + domain.domid() + " is closed");
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment buf = call.allocate(XenPhysicalMemory.PAGE);
            XenStatus.check(PeriscopeXen.periscope_xen_snapshot_read(handle, gfn, buf), "snapshot frame 0x" + Long.toHexString(gfn),
                    gfn * XenPhysicalMemory.PAGE);
            return buf.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** The snapshot's memory, one frame at a time through the shim (each a 4 KiB copy). */
    private final class SnapshotMemory implements PhysicalMemory {
        private final long size;

        SnapshotMemory(long size) {
            this.size = size;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public void read(long pa, byte[] target, int offset, int length) {
            if (pa < 0 || length > size || pa > size - length) {
                throw new PageNotPresentException("address 0x" + Long.toHexString(pa) + " is outside the snapshot", pa);
            }
            for (int done = 0; done < length; ) {
                long a = pa + done;
                int in = (int) (a % XenPhysicalMemory.PAGE);
                int n = Math.min(length - done, XenPhysicalMemory.PAGE - in);
                System.arraycopy(XenSnapshot.this.page(a / XenPhysicalMemory.PAGE), in, target, offset + done, n);
                done += n;
            }
        }

        @Override
        public long indexOf(byte[] needle, long from, long to) {
            if (needle.length == 0) {
                return -1;
            }
            for (long base = Math.max(0, from); base + needle.length <= to; base += XenPhysicalMemory.PAGE) {
                int len = (int) Math.min(XenPhysicalMemory.PAGE + needle.length - 1L, to - base);
                byte[] w = new byte[len];
                try {
                    read(base, w, 0, len);
                } catch (PageNotPresentException e) {
                    continue; /* holes are skipped, like a scan of live memory */
                }
                for (int i = 0; i + needle.length <= len && i < XenPhysicalMemory.PAGE; i++) {
                    if (Arrays.equals(w, i, i + needle.length, needle, 0, needle.length)) {
                        return base + i;
                    }
                }
            }
            return -1;
        }
    }
}
