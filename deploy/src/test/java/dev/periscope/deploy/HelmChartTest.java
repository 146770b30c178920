package dev.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * helm/periscope through the real Helm (helm-java: Helm's own Go code): lint, then template for several sets of
 * values, and the rendered manifests checked as a platform team would: kinds, images, probes on the actuator's
 * groups, the agent's host access, secrets only in Secrets, the schema refusing bad values. No cluster runs here:
 * what a cluster would add (admission, scheduling, cert-manager, Prometheus) is not tested.
 */
class HelmChartTest {

    private static final String NAMESPACE = "vmi";
    /** The cluster version templates are rendered for (the chart needs 1.25 or later). */
    private static final String KUBERNETES = "1.31.0";

    @Test
    void chartLintsCleanAndItsVersionIsTheProjects() {
        LintResult lint = new Helm(Repository.chart()).lint().strict().call();
        assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
        Map<String, Object> chart = new Yaml().load(read(Repository.chart().resolve("Chart.yaml")));
        assertThat(chart.get("appVersion")).as("Chart.yaml appVersion: the images' tag").isEqualTo(Repository.version());
    }

    @Test
    void defaultsRenderControlPlaneAgentsAndDiscoveryOnAnExternalDatabase() {
        Manifests m = render(t -> t);
        assertThat(m.kinds()).containsExactlyInAnyOrder("ConfigMap", "Deployment", "Service", "Service",
                "PodDisruptionBudget", "DaemonSet", "Secret");
        assertThat(m.ofKind("Secret")).extracting(Manifests::name).containsExactly("periscope-operator");

        Map<String, Object> deployment = m.one("Deployment", "periscope-control-plane");
        assertThat(at(deployment, "spec.replicas")).isEqualTo(2);
        Map<String, Object> pod = map(deployment, "spec.template.spec");
        Map<String, Object> container = first(list(pod, "containers"));
        assertThat(container.get("image")).isEqualTo("periscope/control-plane:" + Repository.version());
        assertThat(at(pod, "securityContext.runAsNonRoot")).isEqualTo(true);
        assertThat(at(container, "securityContext.readOnlyRootFilesystem")).isEqualTo(true);
        assertThat(probe(container, "livenessProbe")).isEqualTo("/actuator/health/liveness@management");
        assertThat(probe(container, "readinessProbe")).isEqualTo("/actuator/health/readiness@management");
        assertThat(probe(container, "startupProbe")).isEqualTo("/actuator/health/liveness@management");
        assertThat(ports(container)).containsEntry("http", 8080).containsEntry("management", 9090);
        assertThat(at(container, "resources.limits.memory")).isEqualTo("1Gi");
        // the database from the external Secret, never as a literal value
        assertThat(env(container, "PERISCOPE_DB_PASSWORD")).isEqualTo("secret periscope-database/password");
        assertThat(env(container, "PERISCOPE_DB_URL")).isEqualTo("secret periscope-database/url");
        assertThat(secretVolumes(pod)).containsEntry("tls", "periscope-control-plane-tls")
                .containsEntry("operator", "periscope-operator");

        Map<String, Object> config = m.one("ConfigMap", "periscope-control-plane");
        assertThat(at(config, "data.PERISCOPE_FLEET_DNS")).isEqualTo("periscope-agents." + NAMESPACE + ".svc:7443");
        assertThat(at(config, "data.PERISCOPE_FLEET_EMBEDDEDAGENT_ENABLED")).isEqualTo("false");
        assertThat(at(config, "data.MANAGEMENT_SERVER_PORT")).isEqualTo("9090");
        assertThat(at(config, "data.PERISCOPE_DEMODATA")).isEqualTo("false");

        Map<String, Object> agents = m.one("Service", "periscope-agents");
        assertThat(at(agents, "spec.clusterIP")).as("headless: one DNS record per agent").isEqualTo("None");
        assertThat(m.one("Service", "periscope").get("spec").toString()).contains("management");
        assertThat(at(m.one("PodDisruptionBudget", "periscope-control-plane"), "spec.minAvailable")).isEqualTo(1);

        Map<String, Object> daemonSet = m.one("DaemonSet", "periscope-agent");
        Map<String, Object> agentPod = map(daemonSet, "spec.template.spec");
        Map<String, Object> agent = first(list(agentPod, "containers"));
        assertThat(agent.get("image")).isEqualTo("periscope/agent:" + Repository.version());
        assertThat(agentPod.get("hostPID")).as("QEMU processes are the node's").isEqualTo(true);
        assertThat(at(agent, "securityContext.privileged")).isEqualTo(true);
        assertThat(hostPaths(agentPod)).containsEntry("/dev/shm", "/dev/shm")
                .containsEntry("/var/run/libvirt", "/var/run/libvirt").containsEntry("/dev/xen", "/dev/xen");
        assertThat(at(agentPod, "nodeSelector")).isEqualTo(Map.of("periscope.dev/agent", "true"));
        assertThat(first(list(agentPod, "tolerations"))).isEqualTo(Map.of("operator", "Exists"));
        assertThat(probe(agent, "livenessProbe")).isEqualTo("/actuator/health/liveness@metrics");
        assertThat(probe(agent, "readinessProbe")).isEqualTo("/actuator/health/readiness@metrics");
        assertThat(env(agent, "PERISCOPE_AGENT_HOST")).isEqualTo("field spec.nodeName");
        assertThat(secretVolumes(agentPod)).containsEntry("tls", "periscope-agent-tls");
        assertNoSecretInConfigMaps(m);
    }

    @Test
    void bundledDatabaseCertManagerIngressAndServiceMonitors() {
        Manifests m = render(t -> t.withValuesFile(values("bundled-cert-manager.yaml")));
        assertThat(m.ofKind("Certificate")).extracting(Manifests::name)
                .containsExactlyInAnyOrder("periscope-ca", "periscope-control-plane", "periscope-agent");
        assertThat(m.ofKind("Issuer")).extracting(Manifests::name)
                .containsExactlyInAnyOrder("periscope-selfsigned", "periscope-ca");
        Map<String, Object> agentCert = m.one("Certificate", "periscope-agent");
        assertThat(at(agentCert, "spec.dnsNames")).asInstanceOf(InstanceOfAssertFactories.LIST).contains("periscope-agent");
        assertThat(at(agentCert, "spec.privateKey.encoding")).as("the agent API reads PKCS#8 keys").isEqualTo("PKCS8");
        assertThat(at(agentCert, "spec.issuerRef.name")).isEqualTo("periscope-ca");
        assertThat(at(m.one("Certificate", "periscope-control-plane"), "spec.usages").toString()).contains("client auth");

        Map<String, Object> postgres = m.one("StatefulSet", "periscope-postgres");
        assertThat(first(list(postgres, "spec.template.spec.containers")).get("image"))
                .isEqualTo("registry.example.com/vmi/periscope/postgres:15");
        assertThat(at(first(list(postgres, "spec.volumeClaimTemplates")), "spec.storageClassName")).isEqualTo("fast");
        Map<String, Object> dbSecret = m.one("Secret", "periscope-database");
        assertThat(decode(at(dbSecret, "data.url"))).isEqualTo("//periscope-postgres:5432/periscope");
        assertThat(decode(at(dbSecret, "data.password"))).hasSize(24);

        Map<String, Object> pod = map(m.one("Deployment", "periscope-control-plane"), "spec.template.spec");
        Map<String, Object> container = first(list(pod, "containers"));
        assertThat(container.get("image")).isEqualTo("registry.example.com/vmi/periscope/control-plane:" + Repository.version());
        assertThat(env(container, "PERISCOPE_DB_PASSWORD")).isEqualTo("secret periscope-database/password");
        assertThat(secretVolumes(pod)).containsEntry("tls", "periscope-control-plane-tls");
        assertThat(at(m.one("Deployment", "periscope-control-plane"), "spec.replicas")).isEqualTo(3);

        Map<String, Object> ingress = m.one("Ingress", "periscope");
        assertThat(at(ingress, "spec.ingressClassName")).isEqualTo("nginx");
        assertThat(at(ingress, "metadata.annotations").toString()).contains("affinity=cookie");
        assertThat(at(first(list(ingress, "spec.rules")), "host")).isEqualTo("periscope.vmi.example.com");
        assertThat(at(ingress, "spec.rules").toString()).contains("name=http").doesNotContain("management");

        assertThat(m.ofKind("ServiceMonitor")).extracting(Manifests::name)
                .containsExactlyInAnyOrder("periscope-control-plane", "periscope-agent");
        assertThat(at(m.one("ServiceMonitor", "periscope-control-plane"), "spec.endpoints").toString())
                .contains("port=management", "path=/actuator/prometheus");
        assertThat(at(m.one("ServiceMonitor", "periscope-agent"), "metadata.labels.release")).isEqualTo("prometheus");
        assertNoSecretInConfigMaps(m);
    }

    @Test
    void unprivilegedLabAgentsOnOneReplicaWithAClusterIssuer() {
        Manifests m = render(t -> t.withValuesFile(values("lab-nodes.yaml")));
        assertThat(m.ofKind("PodDisruptionBudget")).as("no budget for a single replica").isEmpty();
        assertThat(m.ofKind("Issuer")).as("the cluster's issuer signs").isEmpty();
        assertThat(at(m.one("Certificate", "periscope-agent"), "spec.issuerRef"))
                .isEqualTo(Map.of("name", "fleet-ca", "kind", "ClusterIssuer"));

        Map<String, Object> agentPod = map(m.one("DaemonSet", "periscope-agent"), "spec.template.spec");
        Map<String, Object> agent = first(list(agentPod, "containers"));
        assertThat(at(agent, "securityContext.privileged")).isEqualTo(false);
        assertThat(at(agent, "securityContext.capabilities.add")).isEqualTo(List.of("SYS_PTRACE"));
        assertThat(at(agent, "securityContext.capabilities.drop")).isEqualTo(List.of("ALL"));
        assertThat(hostPaths(agentPod)).containsOnlyKeys("/dev/shm", "/var/lib/periscope-lab");
        assertThat(env(agent, "PERISCOPE_AGENT_LAB_DIR")).isEqualTo("/var/lib/periscope-lab");
        assertThat(env(agent, "PERISCOPE_AGENT_XEN")).isEqualTo("off");
        assertThat(agentPod).doesNotContainKey("tolerations");
        assertThat(at(agentPod, "nodeSelector")).isEqualTo(Map.of("periscope.dev/lab", "true"));
        assertNoSecretInConfigMaps(m);
    }

    @Test
    void theSchemaRefusesBadValues() {
        assertThatThrownBy(() -> render(t -> t.set("tls.mode", "self-made"))).hasMessageContaining("/tls/mode");
        assertThatThrownBy(() -> render(t -> t.set("agent.xen", "maybe"))).hasMessageContaining("/agent/xen");
        assertThatThrownBy(() -> render(t -> t.set("controlPlane.replicas", 0))).hasMessageContaining("/controlPlane/replicas");
        assertThatThrownBy(() -> render(t -> t.set("database.existingSecret", "")))
                .as("an external database needs its Secret").hasMessageContaining("/database/existingSecret");
        assertThatThrownBy(() -> render(t -> t.set("controlPlane.replica", 2)))
                .as("a misspelt key is an error, not ignored").hasMessageContaining("replica");
        assertThatThrownBy(() -> render(t -> t.set("agent.orphanTimeout", "soon"))).hasMessageContaining("/agent/orphanTimeout");
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /**
     * No ConfigMap holds a secret: none of its keys names a password, token or secret, and none of its values contains
     * a Secret's password, token or key.
     */
    private static void assertNoSecretInConfigMaps(Manifests m) {
        List<String> secretValues = new ArrayList<>();
        for (Map<String, Object> secret : m.ofKind("Secret")) {
            map(secret, "data").forEach((key, value) -> {
                if (key.matches("(?i).*(password|token|key).*")) {
                    secretValues.add(decode(value));
                }
            });
        }
        assertThat(secretValues).as("the rendered Secrets' secrets").isNotEmpty();
        for (Map<String, Object> config : m.ofKind("ConfigMap")) {
            Map<String, Object> data = map(config, "data");
            assertThat(data.keySet()).noneMatch(k -> k.matches("(?i).*(password|token|secret).*"));
            for (Object v : data.values()) {
                assertThat(secretValues).noneMatch(s -> String.valueOf(v).contains(s));
            }
        }
    }

    @SuppressWarnings("unchecked")
    private Manifests render(UnaryOperator<TemplateCommand> values) {
        String out = values.apply(new Helm(Repository.chart()).template().withName("periscope")
                .withNamespace(NAMESPACE).withKubeVersion(KUBERNETES)).call();
        Iterable<Object> docs = new Yaml().loadAll(out);
        return new Manifests(StreamSupport.stream(docs.spliterator(), false).filter(Objects::nonNull)
                .map(d -> (Map<String, Object>) d).toList());
    }

    private static Path values(String name) {
        return Path.of("src/test/resources/helm", name).toAbsolutePath();
    }

    /** The rendered objects. */
    record Manifests(List<Map<String, Object>> objects) {
        List<String> kinds() {
            return objects.stream().map(o -> (String) o.get("kind")).toList();
        }

        List<Map<String, Object>> ofKind(String kind) {
            return objects.stream().filter(o -> kind.equals(o.get("kind"))).toList();
        }

        Map<String, Object> one(String kind, String name) {
            List<Map<String, Object>> found = ofKind(kind).stream().filter(o -> name.equals(name(o))).toList();
            assertThat(found).as("%s %s among %s", kind, name, kinds()).hasSize(1);
            return found.getFirst();
        }

        static String name(Map<String, Object> object) {
            return (String) at(object, "metadata.name");
        }
    }

    /** The value at a dotted path of keys. */
    @SuppressWarnings("unchecked")
    static Object at(Map<String, Object> object, String path) {
        Object here = object;
        for (String key : path.split("\\.")) {
            assertThat(here).as("%s in %s", key, path).isInstanceOf(Map.class);
            here = ((Map<String, Object>) here).get(key);
        }
        return here;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Map<String, Object> object, String path) {
        Object value = at(object, path);
        assertThat(value).as(path).isInstanceOf(Map.class);
        return (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> list(Map<String, Object> object, String path) {
        Object value = at(object, path);
        assertThat(value).as(path).isInstanceOf(List.class);
        return (List<Map<String, Object>>) value;
    }

    private static Map<String, Object> first(List<Map<String, Object>> list) {
        assertThat(list).isNotEmpty();
        return list.getFirst();
    }

    private static String probe(Map<String, Object> container, String probe) {
        Map<String, Object> http = map(container, probe + ".httpGet");
        return http.get("path") + "@" + http.get("port");
    }

    private static Map<String, Integer> ports(Map<String, Object> container) {
        List<Map<String, Object>> ports = list(container, "ports");
        return ports.stream().collect(Collectors.toMap(p -> (String) p.get("name"), p -> (Integer) p.get("containerPort")));
    }

    /** How an environment variable is set: its value, "secret NAME/KEY" or "field PATH". */
    private static String env(Map<String, Object> container, String name) {
        List<Map<String, Object>> env = list(container, "env");
        Map<String, Object> e = env.stream().filter(v -> name.equals(v.get("name"))).findFirst()
                .orElseThrow(() -> new AssertionError(name + " is not set"));
        if (e.containsKey("value")) {
            return String.valueOf(e.get("value"));
        }
        Map<String, Object> from = map(e, "valueFrom");
        if (from.containsKey("secretKeyRef")) {
            return "secret " + at(from, "secretKeyRef.name") + "/" + at(from, "secretKeyRef.key");
        }
        return "field " + at(from, "fieldRef.fieldPath");
    }

    private static Map<String, String> secretVolumes(Map<String, Object> pod) {
        List<Map<String, Object>> volumes = list(pod, "volumes");
        return volumes.stream().filter(v -> v.containsKey("secret"))
                .collect(Collectors.toMap(v -> (String) v.get("name"), v -> (String) at(v, "secret.secretName")));
    }

    /** Host path to where the container sees it. */
    private static Map<String, String> hostPaths(Map<String, Object> pod) {
        List<Map<String, Object>> volumes = list(pod, "volumes");
        Map<String, String> byVolume = volumes.stream().filter(v -> v.containsKey("hostPath"))
                .collect(Collectors.toMap(v -> (String) v.get("name"), v -> (String) at(v, "hostPath.path")));
        List<Map<String, Object>> mounts = list(first(list(pod, "containers")), "volumeMounts");
        return mounts.stream().filter(mount -> byVolume.containsKey(mount.get("name")))
                .collect(Collectors.toMap(mount -> byVolume.get(mount.get("name")), mount -> (String) mount.get("mountPath")));
    }

    private static String decode(Object base64) {
        return new String(Base64.getDecoder().decode(String.valueOf(base64)), StandardCharsets.UTF_8);
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
