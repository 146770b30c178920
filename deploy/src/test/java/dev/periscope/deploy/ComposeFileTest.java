package dev.periscope.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * docker-compose.yml as Compose reads it (validated by every Compose installed: Debian's docker-compose 1.29 and
 * Compose v2) and as a platform team reviews it: the images are this build's, every long-running service has a health
 * check, state lives in named volumes, no password is written in the file, only loopback ports are published by
 * default, and the lab hosts hold exactly the privileges deploy/README.md lists. No container is started here.
 */
class ComposeFileTest {

    @Test
    void everyInstalledComposeAcceptsTheFile() throws Exception {
        List<List<String>> composes = new ArrayList<>();
        if (ComposeStack.succeeds("docker-compose", "version")) {
            composes.add(List.of("docker-compose"));
        }
        if (ComposeStack.succeeds("docker", "compose", "version")) {
            composes.add(List.of("docker", "compose"));
        }
        Assumptions.assumeFalse(composes.isEmpty(), "no Compose installed (./periscope test installs docker-compose)");
        for (List<String> compose : composes) {
            List<String> command = new ArrayList<>(compose);
            command.addAll(List.of("-f", Repository.composeFile().toString(), "config", "-q"));
            Process p = new ProcessBuilder(command).directory(Repository.root().toFile()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0).as("%s: %s", command, out).isTrue();
        }
    }

    @Test
    void imagesHealthChecksVolumesAndSecrets() throws IOException {
        Map<String, Object> file = new Yaml().load(Files.readString(Repository.composeFile()));
        Map<String, Map<String, Object>> services = cast(file.get("services"));
        assertThat(services.keySet()).containsExactlyInAnyOrder("init", "postgres", "control-plane-1",
                "control-plane-2", "proxy", "lab-acme", "lab-globex");
        Map<String, Object> volumes = cast(file.get("volumes"));
        for (var entry : services.entrySet()) {
            String name = entry.getKey();
            Map<String, Object> service = entry.getValue();
            String image = (String) service.get("image");
            assertThat(image).as(name).matches("periscope/[a-z-]+:(15|\\$\\{PERISCOPE_TAG:-" + Repository.version()
                    .replace(".", "\\.") + "})");
            if (!name.equals("init")) {
                assertThat(service).as("%s has a health check", name).containsKey("healthcheck");
                assertThat(service.get("restart")).as(name).isEqualTo("unless-stopped");
            }
            List<String> mounts = cast(service.getOrDefault("volumes", List.of()));
            for (String mount : mounts) {
                assertThat(volumes).as("%s mounts a named volume, not a host path: %s", name, mount)
                        .containsKey(mount.substring(0, mount.indexOf(':')));
            }
            Map<String, Object> environment = cast(service.getOrDefault("environment", Map.of()));
            environment.forEach((key, value) -> {
                if (key.matches(".*(PASSWORD|TOKEN)$")) {
                    assertThat(String.valueOf(value)).as("%s %s comes from the environment or is generated", name, key)
                            .isEqualTo("${" + key + ":-}");
                }
            });
            List<String> ports = cast(service.getOrDefault("ports", List.of()));
            for (String port : ports) {
                assertThat(port).as("%s publishes on loopback by default", name)
                        .matches("127\\.0\\.0\\.1::\\d+|\\$\\{PERISCOPE_BIND:-127\\.0\\.0\\.1}:.*");
            }
        }
        assertThat(services.get("postgres").get("environment").toString())
                .contains("POSTGRES_PASSWORD_FILE=/run/secrets/periscope/PERISCOPE_DB_PASSWORD");
    }

    @Test
    void labHostsHoldOnlyTheirDocumentedPrivileges() throws IOException {
        Map<String, Object> file = new Yaml().load(Files.readString(Repository.composeFile()));
        Map<String, Map<String, Object>> services = cast(file.get("services"));
        for (String host : List.of("lab-acme", "lab-globex")) {
            Map<String, Object> service = services.get(host);
            assertThat(service.get("cap_drop")).as(host).isEqualTo(List.of("ALL"));
            assertThat(service.get("cap_add")).as(host).isEqualTo(List.of("SYS_PTRACE"));
            assertThat(service.get("security_opt")).as(host)
                    .isEqualTo(List.of("no-new-privileges:true", "seccomp:deploy/compose/lab-host-seccomp.json"));
            assertThat(service).as(host).doesNotContainKeys("privileged", "devices", "pid", "network_mode");
            assertThat(String.valueOf(service.get("shm_size"))).as(host).startsWith("${PERISCOPE_LAB_SHM:-");
        }
        for (String other : List.of("control-plane-1", "control-plane-2", "proxy")) {
            assertThat(services.get(other).get("cap_drop")).as(other).isEqualTo(List.of("ALL"));
            assertThat(services.get(other)).as(other).doesNotContainKey("cap_add");
        }
        // The seccomp profile: Docker's default, plus userfaultfd for processes holding CAP_SYS_PTRACE, nothing else.
        JsonNode profile = JsonMapper.builder().build()
                .readTree(Repository.root().resolve("deploy/compose/lab-host-seccomp.json").toFile());
        assertThat(profile.path("defaultAction").asString()).isEqualTo("SCMP_ACT_ERRNO");
        List<JsonNode> userfaultfd = new ArrayList<>();
        for (JsonNode rule : profile.path("syscalls")) {
            for (JsonNode name : rule.path("names")) {
                if (name.asString().equals("userfaultfd")) {
                    userfaultfd.add(rule);
                }
            }
        }
        assertThat(userfaultfd).singleElement().satisfies(rule -> {
            assertThat(rule.path("names")).hasSize(1);
            assertThat(rule.path("action").asString()).isEqualTo("SCMP_ACT_ALLOW");
            assertThat(rule.path("includes").path("caps").toString()).isEqualTo("[\"CAP_SYS_PTRACE\"]");
        });
    }

    @SuppressWarnings("unchecked")
    private static <T> T cast(Object value) {
        return (T) value;
    }
}
