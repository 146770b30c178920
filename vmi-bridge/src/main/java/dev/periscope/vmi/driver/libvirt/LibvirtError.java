package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.nativeapi.libvirt.Libvirt;
import dev.periscope.vmi.nativeapi.libvirt._virError;
import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

/**
 * The one place where a failed libvirt call becomes an engine exception. libvirt keeps the last error per thread,
 * so {@link #last} must run on the failing call's thread before any other libvirt call.
 *
 * @param code    libvirt's virErrorNumber (0 when libvirt recorded none)
 * @param message libvirt's message
 */
record LibvirtError(int code, String message) {

    private static final int NO_DOMAIN = Libvirt.VIR_ERR_NO_DOMAIN();
    private static final int NO_DOMAIN_METADATA = Libvirt.VIR_ERR_NO_DOMAIN_METADATA();

    /** The calling thread's last libvirt error, then cleared. */
    static LibvirtError last() {
        MemorySegment error = Libvirt.virGetLastError();
        if (error.equals(MemorySegment.NULL)) {
            return new LibvirtError(0, "libvirt gave no reason");
        }
        error = error.reinterpret(_virError.sizeof());
        MemorySegment text = _virError.message(error);
        String message = text.equals(MemorySegment.NULL) ? "" : text.reinterpret(Long.MAX_VALUE).getString(0);
        LibvirtError last = new LibvirtError(_virError.code(error), message);
        Libvirt.virResetLastError();
        return last;
    }

    boolean noDomain() {
        return code == NO_DOMAIN;
    }

    boolean noMetadata() {
        return code == NO_DOMAIN_METADATA;
    }

    /**
     * The exception for a failed call on a domain: gone when libvirt no longer knows it or says it is not running
     * ({@code stillActive} asks libvirt again, after the error was read), otherwise the platform's refusal.
     */
    RuntimeException forDomain(String what, String domain, BooleanSupplier stillActive) {
        if (code == NO_DOMAIN) {
            return new VmGoneException("libvirt domain " + domain + " is gone (" + what + ": " + message + ")");
        }
        if (!stillActive.getAsBoolean()) {
            return new VmGoneException("libvirt domain " + domain + " is not running (" + what + ": " + message + ")");
        }
        return forPlatform(what + " on libvirt domain " + domain);
    }

    /** The exception for a failed call that concerns no domain (connecting, listing). */
    PlatformUnavailableException forPlatform(String what) {
        String hint = code == Libvirt.VIR_ERR_OPERATION_DENIED() || code == Libvirt.VIR_ERR_AUTH_FAILED()
                || code == Libvirt.VIR_ERR_AUTH_UNAVAILABLE() || code == Libvirt.VIR_ERR_AUTH_CANCELLED()
                ? " (Periscope needs read-write access to the libvirt socket: root, or the libvirt group)" : "";
        return new PlatformUnavailableException(what + " failed: " + message + " (libvirt error " + code + ")" + hint);
    }
}
