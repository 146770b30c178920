package dev.periscope.vmi;

/** Guest memory does not hold what the engine expects: corrupt, hostile or an unsupported kernel. */
public final class GuestDataException extends VmiException {
    public GuestDataException(String message, Throwable cause) {
        super(message, cause);
    }

    public GuestDataException(String message) {
        this(message, null);
    }
}
