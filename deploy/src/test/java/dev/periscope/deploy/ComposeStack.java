package dev.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.model.ExposedPort;
import com.github.dockerjava.api.model.Ports;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.ComposeContainer;
import org.testcontainers.containers.ContainerState;
import org.testcontainers.containers.DockerComposeContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.lifecycle.Startable;

/**
 * The top-level docker-compose.yml, brought up by Testcontainers with the Compose that is installed: Compose v2
 * ({@code docker compose}) when the Docker CLI has it, else Debian's docker-compose 1.29 (what bookworm packages).
 * Every service with a health check is waited for until healthy; the stack's volumes go with it.
 */
final class ComposeStack implements AutoCloseable {

    /** The services with a health check, in the order compose starts them. */
    static final List<String> HEALTHY = List.of("postgres", "control-plane-1", "control-plane-2", "proxy", "lab-acme",
            "lab-globex");

    private final Startable compose;
    private final Function<String, ContainerState> services;
    private final String version;

    private ComposeStack(Startable compose, Function<String, ContainerState> services, String version) {
        this.compose = compose;
        this.services = services;
        this.version = version;
    }

    /** Which Compose runs the stack: "v2" or "v1", null when neither is installed. */
    static String installedCompose() {
        if (succeeds("docker", "compose", "version")) {
            return "v2";
        }
        return succeeds("docker-compose", "version") ? "v1" : null;
    }

    /** Brings the stack up with these variables (docker-compose.yml's header lists them) and waits for it. */
    static ComposeStack up(Map<String, String> variables, Duration timeout) {
        File file = Repository.composeFile().toFile();
        String version = installedCompose();
        assertThat(version).as("docker compose (v2) or docker-compose (v1) is installed").isNotNull();
        // Constructed without an image, both run the installed Compose (not a containerised one).
        // The first container of a service: SERVICE_1 (v1) or SERVICE-1 (v2), spelt out because service names such
        // as control-plane-1 end in a number themselves
        ComposeStack stack;
        if (version.equals("v2")) {
            var c = new ComposeContainer(file).withPull(false).withRemoveVolumes(true)
                    .withEnv(variables).withStartupTimeout(timeout);
            HEALTHY.forEach(s -> c.waitingFor(s + "-1", Wait.forHealthcheck().withStartupTimeout(timeout)));
            stack = new ComposeStack(c, s -> c.getContainerByServiceName(s + "-1").orElseThrow(), version);
        } else {
            var c = new DockerComposeContainer<>(file).withPull(false).withRemoveVolumes(true)
                    .withEnv(variables).withStartupTimeout(timeout);
            HEALTHY.forEach(s -> c.waitingFor(s + "_1", Wait.forHealthcheck().withStartupTimeout(timeout)));
            stack = new ComposeStack(c, s -> c.getContainerByServiceName(s + "_1").orElseThrow(), version);
        }
        stack.compose.start();
        return stack;
    }

    String composeVersion() {
        return version;
    }

    ContainerState service(String name) {
        return services.apply(name);
    }

    /** The port on 127.0.0.1 that compose published for a service's container port. */
    int port(String service, int containerPort) {
        var ports = docker().inspectContainerCmd(service(service).getContainerId()).exec().getNetworkSettings().getPorts();
        Ports.Binding[] bindings = ports.getBindings().get(ExposedPort.tcp(containerPort));
        assertThat(bindings).as("%s publishes %d", service, containerPort).isNotEmpty();
        assertThat(bindings[0].getHostIp()).as("published on loopback only").isEqualTo("127.0.0.1");
        return Integer.parseInt(bindings[0].getHostPortSpec());
    }

    /** The health Docker reports for a service's container ("healthy", "starting", "unhealthy"). */
    String health(String service) {
        var state = docker().inspectContainerCmd(service(service).getContainerId()).exec().getState();
        return state.getHealth() == null ? "none" : state.getHealth().getStatus();
    }

    boolean running(String service) {
        return Boolean.TRUE.equals(docker().inspectContainerCmd(service(service).getContainerId()).exec()
                .getState().getRunning());
    }

    void stop(String service) {
        docker().stopContainerCmd(service(service).getContainerId()).withTimeout(30).exec();
    }

    void start(String service) {
        docker().startContainerCmd(service(service).getContainerId()).exec();
    }

    /** Copies a file out of a service's container into {@code dir}. */
    Path copy(String service, String containerPath, Path dir) throws IOException, InterruptedException {
        Path target = dir.resolve(Path.of(containerPath).getFileName());
        service(service).copyFileFromContainer(containerPath, target.toString());
        return target;
    }

    private static DockerClient docker() {
        return DockerClientFactory.instance().client();
    }

    @Override
    public void close() {
        compose.stop();
    }

    /** Whether a command runs and exits 0 within 30 s. */
    static boolean succeeds(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Builds the images the stack runs from the jars this build packaged (deploy/images/build.sh, cached). */
    static void buildImages(Path log) throws IOException, InterruptedException {
        Files.createDirectories(log.getParent());
        ProcessBuilder build = new ProcessBuilder("bash", Repository.root().resolve("deploy/images/build.sh").toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        build.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = build.start();
        boolean done = p.waitFor(30, TimeUnit.MINUTES);
        if (!done) {
            p.destroyForcibly();
        }
        assertThat(done && p.exitValue() == 0).as("deploy/images/build.sh (log: %s):%n%s", log,
                Files.readString(log)).isTrue();
    }
}
