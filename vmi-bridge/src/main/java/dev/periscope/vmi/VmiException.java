package dev.periscope.vmi;

/**
 * Every failure the engine reports. Native and I/O failures are translated into one of these exactly once,
 * where they happen (the driver or the memory wrapper); callers never see raw FFM or I/O exceptions.
 */
public sealed class VmiException extends RuntimeException
        permits VmGoneException, PageNotPresentException, PlatformUnavailableException, GuestDataException,
                SessionClosedException {

    VmiException(String message, Throwable cause) {
        super(message, cause);
    }
}
