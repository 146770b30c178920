package dev.periscope.vmi;

/** The hypervisor platform or one of its operations is not available here (missing device, capability, socket). */
public final class PlatformUnavailableException extends VmiException {
    public PlatformUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    public PlatformUnavailableException(String message) {
        this(message, null);
    }
}
