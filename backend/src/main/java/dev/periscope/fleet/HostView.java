package dev.periscope.fleet;

import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.Platform;
import java.time.Instant;
import java.util.List;

/**
 * One host as the API and the fleet page show it.
 *
 * @param host         its name (its agent's), "" until the agent answered once
 * @param address      where its agent is reached ({@code in-process:NAME} inside this server)
 * @param tenant       the tenant its agent's certificate binds it to (a tenant's monitor: its VMs are all that
 *                     tenant's), null for an agent of every tenant
 * @param state        CONNECTING, CONNECTED, UNREACHABLE, or REFUSED (its certificate names no tenant it can be
 *                     bound to: nothing of it is used)
 * @param lastSeen     the agent's last VM update or heartbeat, null before the first
 * @param lastError    why it is unreachable or refused, "" otherwise
 * @param agentVersion the agent's version
 * @param platforms    its platforms (qemu-lab, xen, libvirt)
 * @param vms          its VMs, running or not
 */
public record HostView(String host, String address, String tenant, AgentLink.State state, Instant lastSeen,
                       String lastError, String agentVersion, List<String> platforms, int vms) {

    static HostView of(AgentLink.Status s) {
        return new HostView(s.info().map(HostInfo::getHost).orElse(""), s.address(), s.binding().tenant().orElse(null),
                s.state(), s.lastSeen(), s.lastError(), s.info().map(HostInfo::getAgentVersion).orElse(""),
                s.info().map(i -> i.getPlatformsList().stream().map(Platform::getName).toList()).orElse(List.of()),
                s.vms().size());
    }
}
