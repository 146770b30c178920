package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.driver.qemu.QemuMonitor;
import java.nio.file.Path;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A domain's QEMU monitor through libvirt's passthrough ({@code virDomainQemuMonitorCommand}): libvirt owns the
 * QMP socket and serialises commands with its own, so Periscope never opens a second client. libvirt marks the
 * domain "tainted: custom monitor control commands issued"; nothing in the VM changes.
 */
final class LibvirtMonitor implements QemuMonitor {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final LibvirtDomainHandle domain;

    LibvirtMonitor(LibvirtDomainHandle domain) {
        this.domain = domain;
    }

    @Override
    public JsonNode execute(String command, Map<String, ?> arguments) {
        return reply(command, domain.monitor(request(command, arguments), false));
    }

    @Override
    public String humanMonitor(String commandLine) {
        return domain.monitor(commandLine, true);
    }

    /**
     * Creates {@code file} and hands it to QEMU in a new fd set ({@code add-fd}); returns the set's id, for a
     * "file:/dev/fdset/ID" migration URI and {@code remove-fd} afterwards.
     */
    int addFile(Path file) {
        String command = request("add-fd", Map.of("opaque", "periscope:" + file.getFileName()));
        int fdset = reply("add-fd", domain.monitorWithNewFile(command, file)).path("fdset-id").asInt(-1);
        if (fdset < 0) {
            throw new PlatformUnavailableException("QEMU of " + domain.name() + " named no fd set for " + file);
        }
        return fdset;
    }

    private static String request(String command, Map<String, ?> arguments) {
        ObjectNode request = JSON.createObjectNode();
        request.put("execute", command);
        if (arguments != null) {
            request.set("arguments", JSON.valueToTree(arguments));
        }
        return request.toString();
    }

    private JsonNode reply(String command, String text) {
        JsonNode reply;
        try {
            reply = JSON.readTree(text);
        } catch (JacksonException e) {
            throw new PlatformUnavailableException("QEMU of " + domain.name() + " answered " + command
                    + " with something other than JSON: " + text, e);
        }
        if (reply.has("error")) {
            JsonNode error = reply.get("error");
            throw new PlatformUnavailableException("QEMU of " + domain.name() + " refused " + command + ": "
                    + error.path("desc").asString(error.toString()) + " (" + error.path("class").asString("") + ")");
        }
        return reply.path("return");
    }
}
