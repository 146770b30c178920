package dev.periscope.overhead;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.system.WebSliceConfiguration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.webflux.test.autoconfigure.WebFluxTest;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/** The Experiment page shows the newest result of each platform, the paper's configuration before any other. */
@WebFluxTest(ExperimentPage.class)
@Import(WebSliceConfiguration.class)
class ExperimentPageTest {

    static final Path VAR = WebSliceConfiguration.newVarDir();

    @Autowired
    WebTestClient web;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", VAR::toString);
    }

    @BeforeAll
    static void results() throws IOException {
        Path dir = Files.createDirectories(VAR.resolve("bench/overhead"));
        // the QEMU lab: a paper run, then a newer default run (the paper run is shown); the Xen lab: a paper run
        write(dir, "20261201T000000Z-lab-paper.json", "lab", "paper", 1000, 65.6, 1);
        write(dir, "20261202T000000Z-lab-default.json", "lab", "default", 2000, 7.5, 2);
        write(dir, "20261203T000000Z-xen-paper.json", "xen", "paper", 3600, 8123.4, 3);
    }

    private static void write(Path dir, String name, String platform, String profile, double m1Ms, double m3Pct,
                              int age) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, """
                {"profile": "%s", "platform": "%s", "runs": 10, "machine": "machine of %s",
                 "methods": [
                  {"method": "M1", "overheadPct": 0, "meanMs": %s, "stdevMs": 10, "syscallsTraced": 0, "cr3Seen": 100,
                   "cr3Delivered": 0, "cr3Filtered": 100, "vcpuWaitMs": 0, "dropped": 0},
                  {"method": "M3", "overheadPct": %s, "meanMs": 4000, "stdevMs": 10, "syscallsTraced": 159,
                   "cr3Seen": 61840, "cr3Delivered": 61840, "cr3Filtered": 0, "vcpuWaitMs": 505, "dropped": 0}]}
                """.formatted(profile, platform, name, m1Ms, m3Pct));
        Files.setLastModifiedTime(f, FileTime.from(Instant.parse("2026-12-0" + age + "T00:00:00Z")));
    }

    @Test
    void showsTheNewestPaperRunOfEachPlatformBesideThePaper() throws IOException {
        String page = web.get().uri("/experiment")
                .header("Authorization", "Bearer " + WebSliceConfiguration.operatorToken(VAR)).exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        assertThat(page).contains("QEMU lab (TCG guest), the paper&#39;s configuration",
                "Xen lab (PVH guest under nested Xen), the paper&#39;s configuration",
                "20261201T000000Z-lab-paper.json", "20261203T000000Z-xen-paper.json", "65.6 %", "8123.4 %",
                "2736 %", "20,553,669 CR3 events");
        assertThat(page).doesNotContain("20261202T000000Z-lab-default.json");
        assertThat(page.indexOf("QEMU lab")).isLessThan(page.indexOf("Xen lab (PVH"));
    }
}
