package dev.periscope.vmi.driver.qemu;

import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * A QEMU monitor, however it is reached: the lab's own QMP socket, or libvirt's passthrough to the monitor it
 * owns. Implementations are thread-safe.
 *
 * <p>A QEMU that went away is {@link dev.periscope.vmi.VmGoneException}; an error reply is
 * {@link dev.periscope.vmi.PlatformUnavailableException} carrying QEMU's own message.
 */
public interface QemuMonitor {

    /** Runs a QMP command and returns its "return" value; {@code arguments} may be null. */
    JsonNode execute(String command, Map<String, ?> arguments);

    default JsonNode execute(String command) {
        return execute(command, null);
    }

    /** Runs an HMP command (for what QMP lacks, e.g. "info registers") and returns its text. */
    String humanMonitor(String commandLine);
}
