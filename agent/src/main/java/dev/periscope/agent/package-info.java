/**
 * The agent of one hypervisor host: {@link dev.periscope.agent.HostAgent} runs the engine over the host's platforms
 * and offers it as the agent API (one {@code .proto} in the agent-api module; {@code AgentService} is this side's one
 * adapter, {@code Codec} turns engine results into messages), served by {@link dev.periscope.agent.AgentServer} over
 * mutual TLS ({@link dev.periscope.agent.TlsFiles}) or in-process; {@link dev.periscope.agent.AgentMain} is the
 * {@code periscope-agent} command. Every call is logged with who asked ({@link dev.periscope.agent.CallerLog}).
 * Calls that read guest memory run on the agent's bounded engine executor; the engine's ring threads never wait for a
 * control plane.
 */
package dev.periscope.agent;
