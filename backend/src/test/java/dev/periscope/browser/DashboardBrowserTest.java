package dev.periscope.browser;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * An operator uses the dashboard in headless Chromium: logs in, finds a lab guest in the fleet, opens it and
 * sees a process the guest runs, read from its memory. Screenshots: target/screenshots/operator-*.png.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class DashboardBrowserTest {

    private static final String VM = "bk-browser-1";
    private static LabVm guest;

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        registry.add("periscope.var-dir", () -> LabVm.varDir().toString());
    }

    @BeforeAll
    static void startGuest() {
        LabVm.assumeLabEnabled();
        guest = LabVm.start(VM, "--tenant", "browserco", "--workload", "busy");
    }

    @AfterAll
    static void stopGuest() {
        if (guest != null) {
            guest.close();
        }
    }

    @Test
    void operatorFindsTheGuestAndSeesItsProcesses() throws IOException {
        try (Browser browser = Browser.open("http://localhost:" + port)) {
            browser.go("/");
            assertThat(browser.currentPath()).as("pages need a login").isEqualTo("/login");
            browser.screenshot("operator-login");

            browser.logIn("operator", Files.readString(LabVm.varDir().resolve("operator.password")).strip());
            browser.waitFor(By.linkText(VM));
            assertThat(browser.pageText()).contains(VM, "browserco", "running");
            browser.screenshot("operator-fleet");
            browser.assertNoConsoleErrors();

            browser.waitFor(By.linkText(VM)).click();
            browser.waitFor(By.cssSelector("table.processes"));
            assertThat(browser.findAll(By.cssSelector("table.processes td")))
                    .extracting(cell -> cell.getText())
                    .contains("busy-writer", "init");
            assertThat(browser.pageText()).contains("taken by snapshot", "guest downtime");
            browser.screenshot("operator-vm");
            browser.assertNoConsoleErrors();
        }
    }
}
