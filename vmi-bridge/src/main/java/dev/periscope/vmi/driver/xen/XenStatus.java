package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.nativeapi.xen.PeriscopeXen;

/** The one place where libperiscope-xen status codes become exceptions. */
final class XenStatus {
    static final int OK = PeriscopeXen.PERISCOPE_XEN_OK();
    static final int UNAVAILABLE = PeriscopeXen.PERISCOPE_XEN_E_UNAVAILABLE();
    static final int NO_DOMAIN = PeriscopeXen.PERISCOPE_XEN_E_NO_DOMAIN();
    static final int NOT_PRESENT = PeriscopeXen.PERISCOPE_XEN_E_NOT_PRESENT();
    static final int DENIED = PeriscopeXen.PERISCOPE_XEN_E_DENIED();
    static final int BUSY = PeriscopeXen.PERISCOPE_XEN_E_BUSY();
    static final int UNSUPPORTED = PeriscopeXen.PERISCOPE_XEN_E_UNSUPPORTED();
    static final int INVALID = PeriscopeXen.PERISCOPE_XEN_E_INVALID();

    private XenStatus() {
    }

    /** Throws for a failed call; {@code address} is the guest physical address for NOT_PRESENT, else -1. */
    static void check(int status, String what, long address) {
        if (status != OK) {
            throw exception(status, what, address);
        }
    }

    static void check(int status, String what) {
        check(status, what, -1);
    }

    /** The exception for a failed call, with the shim's message and errno (valid on the calling thread). */
    static RuntimeException exception(int status, String what, long address) {
        String detail = what + ": " + lastError() + errnoSuffix();
        if (status == NO_DOMAIN) {
            return new VmGoneException(detail);
        }
        if (status == NOT_PRESENT) {
            return new PageNotPresentException(detail, address);
        }
        if (status == INVALID) {
            return new IllegalArgumentException(detail);
        }
        return platform(status, detail);
    }

    private static VmiException platform(int status, String detail) {
        String kind;
        if (status == UNAVAILABLE) {
            kind = "Xen is not available";
        } else if (status == DENIED) {
            kind = "Xen refused (XSM/FLASK policy or privileges)";
        } else if (status == BUSY) {
            kind = "another monitor owns the domain";
        } else if (status == UNSUPPORTED) {
            kind = "not supported by this hypervisor or guest";
        } else {
            kind = "Xen toolstack call failed";
        }
        return new PlatformUnavailableException(kind + ": " + detail);
    }

    private static String lastError() {
        var message = PeriscopeXen.periscope_xen_last_error();
        return message.equals(java.lang.foreign.MemorySegment.NULL) ? "" : message.reinterpret(256).getString(0);
    }

    private static String errnoSuffix() {
        int errno = PeriscopeXen.periscope_xen_last_errno();
        return errno == 0 ? "" : " (errno " + errno + ")";
    }
}
