package dev.periscope.fleet;

/** The agent of a host cannot be reached (down, cut off, or it does not trust us or we it). */
public final class AgentUnreachableException extends RuntimeException {

    private final String host;

    public AgentUnreachableException(String host, String detail, Throwable cause) {
        super("the agent of host " + host + " is unreachable" + (detail == null || detail.isBlank() ? "" : ": " + detail),
                cause);
        this.host = host;
    }

    public String host() {
        return host;
    }
}
