package dev.periscope.vmi;

/** The VM is not running (any more): it was stopped, crashed or never existed. */
public final class VmGoneException extends VmiException {
    public VmGoneException(String message, Throwable cause) {
        super(message, cause);
    }

    public VmGoneException(String message) {
        this(message, null);
    }
}
