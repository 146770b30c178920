package dev.periscope.vmi.linux;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.paging.AddressSpace;

/**
 * Pointers read from hostile kernel memory. A pointer to a kernel object is accepted only when it is in the kernel
 * half of the address space (bits 63..47 set, 63..56 with 5-level paging), 8-byte aligned (every structure the
 * engine follows is) and its page is mapped. An unaligned pointer is refused because an 8-byte read through it
 * could straddle into an unmapped page after the check.
 */
final class KernelPointers {

    private final AddressSpace kernel;
    private final int topShift;

    KernelPointers(AddressSpace kernel, boolean fiveLevel) {
        this.kernel = kernel;
        this.topShift = fiveLevel ? 56 : 47;
    }

    AddressSpace space() {
        return kernel;
    }

    boolean valid(long value) {
        return value >> topShift == -1 && (value & 7) == 0 && kernel.isMapped(value);
    }

    /** The value, when it is a valid pointer; otherwise a {@link GuestDataException} or {@link PageNotPresentException}. */
    long check(long value, String what) {
        if (value >> topShift != -1) {
            throw new GuestDataException(what + " 0x" + Long.toHexString(value) + " is not a kernel address");
        }
        if ((value & 7) != 0) {
            throw new GuestDataException(what + " 0x" + Long.toHexString(value) + " is not 8-byte aligned");
        }
        if (!kernel.isMapped(value)) {
            throw new PageNotPresentException(what + " points to an unmapped page", value);
        }
        return value;
    }

    /** Reads a pointer at {@code at} and checks it. */
    long read(long at, String what) {
        return check(kernel.readLong(at), what);
    }

    /** Reads a pointer; 0 when it cannot be read or is not valid (never throws). */
    long readOrZero(long at) {
        try {
            long value = kernel.readLong(at);
            return valid(value) ? value : 0;
        } catch (VmiException e) {
            return 0;
        }
    }
}
