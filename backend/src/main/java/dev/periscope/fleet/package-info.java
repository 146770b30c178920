/**
 * The fleet: the agents of the hypervisor hosts, as the control plane reaches them. {@link dev.periscope.fleet.Agents}
 * finds them (a static list, a DNS name whose every address is an agent, the Xen lab's endpoint file, and the
 * embedded server's in-process agent) and keeps one {@link dev.periscope.fleet.AgentLink} each: the agent's VM list
 * from its watch stream, whether it is reachable, and its calls as Reactor types. An agent's certificate may bind it
 * to one tenant ({@link dev.periscope.fleet.AgentBinding}: a tenant's monitor, whose VMs are all that tenant's); each
 * call's answer is checked to come from an agent bound as its link is, and an agent whose certificate names no
 * tenant it can be bound to is refused. This package is the control plane's one adapter of the agent API
 * ({@code Wire}: messages into the engine's records, failures into the engine's exceptions); nothing else in the
 * control plane sees the API's generated types. VMs are named {@link dev.periscope.fleet.VmId} {@code name@host}.
 * {@code GET /api/v1/hosts} lists the agents, with their state and binding, for operators.
 */
package dev.periscope.fleet;
