package dev.periscope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyString;
import static org.mockito.BDDMockito.given;
import static org.mockito.Mockito.mock;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.http.MediaType;
import org.springframework.http.client.ReactorResourceFactory;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * A server restarted over the same H2 file: sessions and audit survive; a session whose VM vanished while the
 * server was down is {@code lost}, one whose VM still runs is resumed.
 */
class RestartTest {

    static final Path VAR = ApiTest.newVarDir();

    @Test
    void sessionsAndAuditSurviveARestartAndSessionsOfVanishedVmsAreLost() throws Exception {
        DomainInfo stays = new DomainInfo("acme-1", "acme", "qemu-lab", true, 512L << 20, "6.1.0", "busy", Instant.now());
        DomainInfo vanishes = new DomainInfo("acme-2", "acme", "qemu-lab", true, 512L << 20, "6.1.0", "idle", Instant.now());
        String kept;
        String lost;
        long auditBefore;
        try (var app = start(engineWith(stays, vanishes))) {
            WebTestClient web = client(app);
            kept = open(web, "acme-1");
            lost = open(web, "acme-2");
            auditBefore = audit(web).size();
            assertThat(auditBefore).isGreaterThanOrEqualTo(2);
        }
        try (var app = start(engineWith(stays))) {
            WebTestClient web = client(app);
            web.get().uri("/api/v1/sessions/" + lost).header("Authorization", "Bearer " + operator()).exchange()
                    .expectStatus().isOk().expectBody()
                    .jsonPath("$.state").isEqualTo("LOST")
                    .jsonPath("$.endReason").isEqualTo("server restarted and VM acme-2 is gone");
            web.get().uri("/api/v1/sessions/" + kept).header("Authorization", "Bearer " + operator()).exchange()
                    .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ACTIVE");
            List<Map<String, Object>> audit = audit(web);
            assertThat(audit.size()).isGreaterThan((int) auditBefore);
            assertThat(audit).extracting(r -> r.get("action")).contains("SESSION_STARTED", "SESSION_LOST");
        }
    }

    private static VmiEngine engineWith(DomainInfo... vms) {
        VmiEngine engine = mock(VmiEngine.class);
        given(engine.domains()).willReturn(List.of(vms));
        given(engine.domain(anyString())).willReturn(Optional.empty());
        for (DomainInfo vm : vms) {
            given(engine.domain(vm.name())).willReturn(Optional.of(vm));
        }
        given(engine.capabilities(anyString())).willReturn(Set.of());
        given(engine.processes(anyString(), any())).willAnswer(call -> ApiTest.list(call.getArgument(0), call.getArgument(1)));
        return engine;
    }

    /**
     * Starts the whole application outside the test context cache. Its Reactor Netty resources are its own: with
     * the global ones (a plain application's default) closing it would dispose the event loops and connection
     * pool that the other test classes' clients in this JVM share, and their next request could hang.
     */
    private static ConfigurableApplicationContext start(VmiEngine engine) {
        return new SpringApplicationBuilder(PeriscopeApplication.class)
                .initializers(context -> {
                    ((GenericApplicationContext) context).registerBean("testEngine", VmiEngine.class, () -> engine,
                            definition -> definition.setPrimary(true));
                    context.getBeanFactory().addBeanPostProcessor(new BeanPostProcessor() {
                        @Override
                        public Object postProcessBeforeInitialization(Object bean, String name) {
                            if (bean instanceof ReactorResourceFactory resources) {
                                resources.setUseGlobalResources(false);
                            }
                            return bean;
                        }
                    });
                })
                .run("--periscope.var-dir=" + VAR, "--server.port=0");
    }

    private static WebTestClient client(ConfigurableApplicationContext app) {
        int port = ((WebServerApplicationContext) app).getWebServer().getPort();
        return WebTestClient.bindToServer().baseUrl("http://localhost:" + port).build();
    }

    private static String open(WebTestClient web, String vm) throws Exception {
        return (String) web.post().uri("/api/v1/sessions").header("Authorization", "Bearer " + operator())
                .contentType(MediaType.APPLICATION_JSON)
                // A process-list session: the engine here is a mock, and a trace would fail at once on it.
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
