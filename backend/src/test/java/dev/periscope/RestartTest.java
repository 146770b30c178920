package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.FakeAgent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.http.MediaType;
import org.springframework.http.client.ReactorResourceFactory;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * A server restarted over the same H2 file, its agent running on: sessions and audit survive; a session whose VM
 * vanished while the server was down is {@code lost}, one whose VM still runs is resumed on its agent.
 */
class RestartTest {

    static final Path VAR = ApiTest.newVarDir();

    @Test
    void sessionsAndAuditSurviveARestartAndSessionsOfVanishedVmsAreLost() throws Exception {
        String kept;
        String lost;
        long auditBefore;
        try (FakeAgent agent = new FakeAgent("h1")) {
            agent.vms(FakeAgent.vm("acme-1", "acme", true, 512), FakeAgent.vm("acme-2", "acme", true, 512));
            for (String vm : List.of("acme-1", "acme-2")) {
                agent.answerAll(vm, List.of(FakeAgent.process(42, 1, vm + "-daemon", false)));
            }
            try (var app = start(agent)) {
                WebTestClient web = client(app);
                kept = open(web, "acme-1");
                lost = open(web, "acme-2");
                auditBefore = audit(web).size();
                assertThat(auditBefore).isGreaterThanOrEqualTo(2);
            }
            agent.vms(FakeAgent.vm("acme-1", "acme", true, 512));
            try (var app = start(agent)) {
                WebTestClient web = client(app);
                await(web, lost, "LOST");
                web.get().uri("/api/v1/sessions/" + lost).header("Authorization", "Bearer " + operator()).exchange()
                        .expectStatus().isOk().expectBody()
                        .jsonPath("$.end").isEqualTo("VM_GONE")
                        .jsonPath("$.endReason").isEqualTo("server restarted and VM acme-2@h1 is gone");
                await(web, kept, "ACTIVE");
                List<Map<String, Object>> audit = audit(web);
                assertThat(audit.size()).isGreaterThan((int) auditBefore);
                assertThat(audit).extracting(r -> r.get("action")).contains("SESSION_STARTED", "SESSION_LOST");
            }
        }
    }

    /** Waits until session {@code id} is in {@code state} (the restarted server hands it over within seconds). */
    private static void await(WebTestClient web, String id, String state) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            Map<String, Object> s = web.get().uri("/api/v1/sessions/" + id).header("Authorization", "Bearer " + operator())
                    .exchange().expectStatus().isOk().expectBody(ApiTest.MAP).returnResult().getResponseBody();
            if (state.equals(s.get("state"))) {
                return;
            }
            assertThat(System.nanoTime()).as("session " + id + " is " + s.get("state") + ", not " + state)
                    .isLessThan(deadline);
            Thread.sleep(200);
        }
    }

    /**
     * Starts the whole application outside the test context cache, over {@code agent} alone. Its Reactor Netty
     * resources are its own: with the global ones (a plain application's default) closing it would dispose the event
     * loops and connection pool that the other test classes' clients in this JVM share, and their next request could
     * hang.
     */
    private static ConfigurableApplicationContext start(FakeAgent agent) {
        return new SpringApplicationBuilder(PeriscopeApplication.class)
                .initializers(context -> context.getBeanFactory().addBeanPostProcessor(new BeanPostProcessor() {
                    @Override
                    public Object postProcessBeforeInitialization(Object bean, String name) {
                        if (bean instanceof ReactorResourceFactory resources) {
                            resources.setUseGlobalResources(false);
                        }
                        return bean;
                    }
                }))
                .run("--periscope.var-dir=" + VAR, "--server.port=0", "--periscope.fleet.embedded-agent.enabled=false",
                        "--periscope.fleet.agents=" + agent.address(), "--periscope.xen-lab.enabled=false",
                        "--periscope.fleet.replica=restart-test");
    }

    private static WebTestClient client(ConfigurableApplicationContext app) {
        int port = ((WebServerApplicationContext) app).getWebServer().getPort();
        return WebTestClient.bindToServer().baseUrl("http://localhost:" + port).build();
    }

    private static String open(WebTestClient web, String vm) throws Exception {
        return (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue(Map.of("vm", vm, "kind", "PROCESS_LIST", "intervalSeconds", 3600, "maxDurationSeconds", 3600))
                .exchange().expectStatus().isCreated().expectBody(ApiTest.MAP).returnResult().getResponseBody()
                .get("id");
    }

    private static List<Map<String, Object>> audit(WebTestClient web) throws Exception {
        return web.get().uri("/api/v1/audit?limit=1000").header("Authorization", "Bearer " + operator()).exchange()
                .expectStatus().isOk().expectBody(ApiTest.LIST).returnResult().getResponseBody();
    }

    private static String operator() throws Exception {
        return Files.readString(VAR.resolve("operator.token")).strip();
    }
}
