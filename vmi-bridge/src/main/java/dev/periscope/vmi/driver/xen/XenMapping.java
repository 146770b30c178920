package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A run of guest frames mapped read-only by the shim; unmapped on close. Not thread-safe: its owner locks. */
final class XenMapping implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment pages;
    private final boolean[] present;
    final long firstGfn;

    private XenMapping(MemorySegment raw, long firstGfn, int count) {
        this.handle = raw.reinterpret(arena, PeriscopeXen::periscope_xen_unmap);
        this.firstGfn = firstGfn;
        this.pages = PeriscopeXen.periscope_xen_mapping_address(handle)
                .reinterpret((long) count * XenPhysicalMemory.PAGE, arena, null);
        this.present = new boolean[count];
        for (int i = 0; i < count; i++) {
            present[i] = PeriscopeXen.periscope_xen_mapping_page_status(handle, i) == XenStatus.OK;
        }
    }

    static XenMapping map(MemorySegment domain, long firstGfn, int count) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            XenStatus.check(PeriscopeXen.periscope_xen_map(domain, firstGfn, count, out), "mapping gfn " + Long.toHexString(firstGfn),
                    firstGfn * XenPhysicalMemory.PAGE);
            return new XenMapping(out.get(ValueLayout.ADDRESS, 0), firstGfn, count);
        }
    }

    boolean present(long gfn) {
        return present[(int) (gfn - firstGfn)];
    }

    /** The mapped bytes of one frame: read only while this mapping is open (the owner's lock ensures it). */
    MemorySegment frame(long gfn) {
        return pages.asSlice((gfn - firstGfn) * XenPhysicalMemory.PAGE, XenPhysicalMemory.PAGE);
    }

    @Override
    public void close() {
        arena.close();
    }
}
