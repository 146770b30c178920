package dev.periscope.fleet;

import dev.periscope.agent.TlsFiles;
import dev.periscope.system.PeriscopeProperties;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * The agents this control plane knows, found the orchestrator's way (a static list such as compose service names, a
 * DNS name whose every address is an agent such as a Kubernetes headless Service, the Xen lab's endpoint file) and
 * the embedded server's in-process agent. Discovery runs again every {@code discoveryInterval}: agents that appear
 * get a link, agents that disappear are dropped. A host is named by its agent; when two agents claim one host name,
 * the first keeps it and the other is ignored (and logged).
 */
@Component
public class Agents implements DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(Agents.class);
    /** The address scheme of agents in this JVM: the embedded one, and those of benchmarks and tests. */
    static final String IN_PROCESS = "in-process:";

    private final FleetProperties properties;
    private final ScheduledExecutorService timers = Executors.newScheduledThreadPool(1,
            Thread.ofPlatform().daemon().name("fleet-timer").factory());
    /** By address, in the order they were discovered (the first agent to claim a host keeps it). */
    private final Map<String, AgentLink> links = Collections.synchronizedMap(new LinkedHashMap<>());
    private final List<Consumer<AgentLink>> listeners = new CopyOnWriteArrayList<>();
    private final EmbeddedAgent embedded;
    private final FleetProperties.Tls tls;
    private final List<Path> endpointFiles;
    private volatile ChannelCredentials credentials;
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

    Agents(FleetProperties properties, PeriscopeProperties periscope) {
        this.properties = properties;
        this.tls = properties.tls().orDefaultsIn(periscope.varDir().resolve("pki"));
        this.endpointFiles = new ArrayList<>(properties.endpointFiles());
        if (periscope.xenLab().enabled()) {
            endpointFiles.add(periscope.xenEndpointFile());
        }
        if (properties.embeddedAgent().enabled()) {
            embedded = new EmbeddedAgent(properties.embeddedAgent().host(), periscope);
            links.put(embedded.address(), link(embedded.address(), embedded.channel()));
        } else {
            embedded = null;
        }
        timers.scheduleWithFixedDelay(this::discover, 0, properties.discoveryInterval().toMillis(),
                TimeUnit.MILLISECONDS);
    }

    private String embeddedAddress() {
        return embedded == null ? "" : embedded.address();
    }

    /** Calls {@code listener} whenever an agent's reachability or VM list changes, or it is dropped. */
    public void onChange(Consumer<AgentLink> listener) {
        listeners.add(listener);
    }

    /** Every agent link, the embedded one first, then in the order they were discovered. */
    public List<AgentLink> links() {
        synchronized (links) {
            return List.copyOf(links.values());
        }
    }

    /** Every agent as the API and the fleet page show it. */
    public List<HostView> hosts() {
        return links().stream().map(l -> HostView.of(l.status())).toList();
    }

    /** The link of the agent that runs {@code host}. */
    public Optional<AgentLink> host(String host) {
        return byHost().getOrDefault(host, List.of()).stream().findFirst();
    }

    /** Every VM of every known host (as last seen for unreachable ones). */
    public List<HostedVm> vms() {
        List<HostedVm> all = new ArrayList<>();
        byHost().forEach((host, hostLinks) -> all.addAll(hostLinks.getFirst().status().vms()));
        all.sort(Comparator.comparing((HostedVm v) -> v.id().name()).thenComparing(v -> v.id().host()));
        return all;
    }

    /** The VM {@code id}, if its host knows it. */
    public Optional<HostedVm> vm(VmId id) {
        return host(id.host()).flatMap(l -> l.status().vms().stream().filter(v -> v.id().equals(id)).findFirst());
    }

    /** The links by the host name their agent reported, in discovery order; conflicts logged. */
    private Map<String, List<AgentLink>> byHost() {
        Map<String, List<AgentLink>> hosts = new LinkedHashMap<>();
        for (AgentLink l : links()) {
            l.host().ifPresent(h -> hosts.computeIfAbsent(h, k -> new ArrayList<>()).add(l));
        }
        hosts.forEach((host, hostLinks) -> {
            if (hostLinks.size() > 1 && warned.add("conflict " + host)) {
                log.error("agents at {} all claim host {}: only {} is used", hostLinks.stream()
                        .map(AgentLink::address).toList(), host, hostLinks.getFirst().address());
            }
        });
        return hosts;
    }

    private AgentLink link(String address, ManagedChannel channel) {
        return new AgentLink(address, channel, properties.unreachableAfter(), properties.callTimeout(), timers,
                l -> listeners.forEach(c -> c.accept(l)));
    }

    // ------------------------------------------------------------------ discovery

    private void discover() {
        try {
            Set<String> wanted = addresses();
            for (String address : wanted) {
                if (!links.containsKey(address)) {
                    remote(address).ifPresent(link -> links.put(address, link));
                }
            }
            List<String> known;
            synchronized (links) {
                known = List.copyOf(links.keySet());
            }
            for (String address : known) {
                if (!address.equals(embeddedAddress()) && !wanted.contains(address)) {
                    AgentLink gone = links.remove(address);
                    log.info("agent {} ({}) is no longer discovered: dropped", gone.host().orElse("?"), address);
                    gone.close(); // its listeners hear that it is unreachable
                }
            }
        } catch (RuntimeException e) {
            log.warn("agent discovery failed: {}", e.toString());
        }
    }

    /** The addresses of remote agents now: the static list, the DNS name's addresses, the endpoint files' lines. */
    private Set<String> addresses() {
        Set<String> all = new LinkedHashSet<>(properties.agents());
        if (properties.dns() != null) {
            int colon = properties.dns().lastIndexOf(':');
            String name = properties.dns().substring(0, colon);
            String port = properties.dns().substring(colon + 1);
            try {
                for (InetAddress a : InetAddress.getAllByName(name)) {
                    all.add((a instanceof Inet6Address ? "[" + a.getHostAddress() + "]" : a.getHostAddress()) + ":" + port);
                }
            } catch (UnknownHostException e) {
                log.debug("{} does not resolve (no agents there now)", name);
            }
        }
        for (Path file : endpointFiles) {
            try {
                if (Files.isRegularFile(file)) {
                    Files.readAllLines(file).stream().map(String::strip)
                            .filter(l -> l.matches("[^\\s:]+:\\d{1,5}")).forEach(all::add);
                }
            } catch (IOException e) {
                log.debug("cannot read {}: {}", file, e.toString());
            }
        }
        return all;
    }

    private Optional<AgentLink> remote(String address) {
        if (address.startsWith(IN_PROCESS)) {
            // an agent inside this JVM (benchmarks, tests): no network, no certificates
            return Optional.of(link(address, InProcessChannelBuilder.forName(address.substring(IN_PROCESS.length()))
                    .build()));
        }
        ChannelCredentials c = credentials();
        if (c == null) {
            if (warned.add("tls " + address)) {
                log.error("agent {} is configured but the control plane has no TLS files ({}, {}, {}): it is not "
                        + "contacted", address, tls.ca(), tls.certificate(), tls.privateKey());
            }
            return Optional.empty();
        }
        log.info("agent at {}: connecting", address);
        return Optional.of(link(address, Grpc.newChannelBuilder(address, c).overrideAuthority(TlsFiles.AGENT_NAME)
                .keepAliveTime(2, TimeUnit.SECONDS).keepAliveTimeout(2, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true).build()));
    }

    /** The TLS credentials, read once their files exist (the lab may make them after the server started). */
    private ChannelCredentials credentials() {
        if (credentials == null && tls.present()) {
            credentials = new TlsFiles(tls.ca(), tls.certificate(), tls.privateKey()).client();
        }
        return credentials;
    }

    @Override
    public void destroy() {
        timers.shutdownNow();
        links.values().forEach(AgentLink::close);
        links.clear();
        if (embedded != null) {
            embedded.close();
        }
    }
}
