package dev.periscope.browser;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.LabServerDirs;
import dev.periscope.account.Accounts;
import dev.periscope.caller.Role;
import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.Alert;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Operators and tenants use the dashboard in headless Chromium against one lab guest (tenant {@code browserco}):
 * the fleet, the VM's live process tree, a trace started from a process row with its event feed and overhead
 * charts, and every other page; a user of another tenant (acme) does not see the guest. Screenshots of every page:
 * target/screenshots/{operator,tenant}-*.png.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DashboardBrowserTest {

    private static final String VM = "bk-browser-1";
    /** Its fleet id: the embedded server's agent is host "local". */
    private static final String VM_ID = VM + "@local";
    private static LabVm guest;

    @LocalServerPort
    int port;

    /**
     * The tenant user is made here rather than read from var/demo-users.txt, so that the test does not depend on
     * the demo data.
     */
    @Autowired
    Accounts accounts;

    @DynamicPropertySource
    static void varDir(DynamicPropertyRegistry registry) {
        LabServerDirs.register(registry);
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
    @Order(1)
    void operatorFindsTheGuestAndSeesItsProcesses() throws IOException {
        try (Browser browser = Browser.open(base())) {
            browser.go("/");
            assertThat(browser.currentPath()).as("pages need a login").isEqualTo("/login");
            browser.screenshot("operator-login");

            logInAsOperator(browser);
            browser.waitFor(By.linkText(VM));
            assertThat(browser.pageText()).contains(VM, "browserco", "running");
            browser.waitUntil("the fleet's sparkline shows a rate", 30,
                    () -> !browser.find(By.cssSelector("tr[data-vm='" + VM_ID + "'] .rate")).getText().startsWith("measuring"));
            browser.find(By.cssSelector("input[data-filter=text]")).sendKeys("no-such-vm");
            assertThat(browser.find(By.cssSelector("tr[data-vm='" + VM_ID + "']")).isDisplayed()).isFalse();
            browser.find(By.cssSelector("input[data-filter=text]")).clear();
            browser.script("document.querySelector('input[data-filter=text]').dispatchEvent(new Event('input'))");
            browser.screenshot("operator-fleet");
            browser.assertNoConsoleErrors();

            browser.waitFor(By.linkText(VM)).click();
            browser.waitFor(By.cssSelector("table.processes"));
            assertThat(cells(browser)).contains("busy-writer", "init");
            assertThat(browser.pageText()).contains("taken by snapshot", "guest downtime");

            new Select(browser.find(By.id("refresh"))).selectByValue("5");
            browser.waitUntil("the process table refreshes", 60,
                    () -> browser.find(By.id("refresh-status")).getText().startsWith("refreshed"));
            new Select(browser.find(By.id("refresh"))).selectByValue("0");
            assertThat(cells(browser)).contains("busy-writer");
            browser.script("document.querySelector('table.processes tr:not(.kthread) details.argv').open = true");
            browser.screenshot("operator-vm");
            browser.assertNoConsoleErrors();
        }
    }

    @Test
    @Order(2)
    void operatorTracesAProcessAndSeesEventsAndOverhead() throws IOException {
        try (Browser browser = Browser.open(base())) {
            logInAsOperator(browser);
            browser.go("/vms/" + VM);
            browser.waitFor(By.cssSelector("table.processes"));
            WebElement row = browser.findAll(By.cssSelector("table.processes tbody tr")).stream()
                    .filter(r -> r.findElements(By.tagName("td")).get(4).getText().endsWith("busy-writer"))
                    .findFirst().orElseThrow();
            row.findElement(By.cssSelector("button.trace")).click();
            browser.waitFor(By.id("trace-dialog"));
            new Select(browser.find(By.cssSelector("#trace-dialog select[name=method]"))).selectByValue("M5");
            browser.find(By.cssSelector("#trace-dialog input[name=maxDurationSeconds]")).clear();
            browser.find(By.cssSelector("#trace-dialog input[name=maxDurationSeconds]")).sendKeys("90");
            browser.screenshot("operator-trace-dialog");
            browser.find(By.cssSelector("#trace-dialog button[type=submit]")).click();

            browser.waitUntil("the trace page opens", 30, () -> browser.currentPath().startsWith("/sessions/"));
            browser.waitFor(By.cssSelector("#feed .row.state, #feed .row.syscall, #feed .row.trace, #feed .row.notice"));
            browser.waitUntil("the events chart has points", 20, () -> points(browser) >= 3);
            int before = points(browser);
            browser.waitUntil("the events chart keeps growing", 20, () -> points(browser) > before);
            assertThat(browser.find(By.id("session-state")).getText()).isIn("active", "pending");
            browser.screenshot("operator-trace");
            browser.assertNoConsoleErrors();

            browser.find(By.id("pause")).click();
            browser.find(By.id("filter")).sendKeys("state");
            browser.screenshot("operator-trace-paused-filtered");
            browser.find(By.cssSelector("#stop-form button")).click();
            // the confirm() dialog of the stop button
            Alert alert = new WebDriverWait(
                    driverOf(browser), Duration.ofSeconds(5))
                    .until(ExpectedConditions.alertIsPresent());
            alert.accept();
            browser.waitUntil("the session ends", 30, () -> browser.find(By.id("session-state")).getText().equals("ended"));

            browser.go("/sessions");
            browser.waitFor(By.cssSelector("table.data"));
            assertThat(browser.pageText()).contains(VM, "trace", "M5");
            browser.screenshot("operator-sessions");
            browser.assertNoConsoleErrors();
        }
    }

    @Test
    @Order(3)
    void operatorPages() throws IOException {
        try (Browser browser = Browser.open(base())) {
            logInAsOperator(browser);
            browser.go("/tokens");
            browser.find(By.name("name")).sendKeys("browser-test");
            browser.find(By.cssSelector("form[data-api] button[type=submit]")).click();
            String secret = browser.waitFor(By.cssSelector("#new-token code")).getText();
            assertThat(secret).hasSizeGreaterThan(20);
            browser.screenshot("operator-tokens-created");
            browser.go("/tokens");
            assertThat(browser.pageText()).contains("browser-test").doesNotContain(secret);
            browser.assertNoConsoleErrors();

            browser.go("/audit?action=TOKEN_CREATED");
            assertThat(browser.pageText()).contains("TOKEN_CREATED").doesNotContain("LOGIN_SUCCESS");
            browser.screenshot("operator-audit");
            browser.assertNoConsoleErrors();

            browser.go("/tenants");
            assertThat(browser.pageText()).contains("acme", "globex");
            browser.screenshot("operator-tenants");
            browser.go("/requests");
            browser.waitFor(By.tagName("h1"));
            browser.screenshot("operator-requests");
            browser.go("/experiment");
            assertThat(browser.pageText()).contains("DAIS 2020", "2736");
            browser.screenshot("operator-experiment");
            browser.assertNoConsoleErrors();

            browser.windowSize(1366, 768).go("/vms/" + VM);
            browser.waitFor(By.cssSelector("table.processes"));
            browser.screenshot("operator-vm-1366x768");
            browser.assertNoConsoleErrors();

            browser.go("/vms/no-such-vm");
            assertThat(browser.pageText()).contains("Not found", "/vms/no-such-vm");
            browser.screenshot("operator-not-found");
        }
    }

    @Test
    @Order(4)
    void aTenantUserSeesOnlyItsTenantsVms() throws IOException {
        try (Browser browser = Browser.open(base())) {
            String user = "bt-acme-" + Long.toString(System.nanoTime() % 1_000_000_000L, 36);
            String password = Accounts.randomPassword();
            accounts.createUser(user, password, Role.TENANT_USER, "acme").block();
            browser.logIn(user, password);
            browser.waitFor(By.tagName("h1"));
            assertThat(browser.pageText()).doesNotContain(VM).doesNotContain("browserco").contains("acme");
            assertThat(browser.findAll(By.linkText("Tenants"))).as("tenant users do not manage tenants").isEmpty();
            browser.screenshot("tenant-fleet");
            browser.assertNoConsoleErrors();

            browser.go("/requests");
            browser.waitFor(By.tagName("h1"));
            assertThat(browser.pageText()).doesNotContain(VM);
            browser.screenshot("tenant-requests");
            browser.go("/audit");
            assertThat(browser.pageText()).doesNotContain("browserco");
            browser.screenshot("tenant-audit");
            browser.assertNoConsoleErrors();

            // The register step: an operator gives the VM (as it would a memory image) to acme on its page...
            try (Browser operator = Browser.open(base())) {
                logInAsOperator(operator);
                operator.go("/vms/" + VM_ID);
                new Select(operator.waitFor(By.cssSelector("#assign-owner select[name=tenant]"))).selectByValue("acme");
                operator.find(By.cssSelector("#assign-owner button[type=submit]")).click();
                operator.waitUntil("the page shows the new owner", 30,
                        () -> operator.find(By.cssSelector("p.meta")).getText().contains("tenant acme"));
                operator.screenshot("operator-vm-owner");
                operator.assertNoConsoleErrors();

                // ...whose user now sees it and its processes as its own,...
                browser.go("/");
                browser.waitFor(By.linkText(VM)).click();
                browser.waitFor(By.cssSelector("table.processes"));
                assertThat(cells(browser)).contains("busy-writer");
                assertThat(browser.findAll(By.id("assign-owner"))).as("tenant users assign no owners").isEmpty();
                browser.screenshot("tenant-vm-assigned");

                // ...until the operator clears it: the VM is the lab's tenant's again.
                operator.go("/vms/" + VM_ID);
                operator.script("window.confirm = () => true");
                operator.waitFor(By.cssSelector("#clear-owner button[type=submit]")).click();
                operator.waitUntil("the page shows the lab's owner again", 30,
                        () -> operator.find(By.cssSelector("p.meta")).getText().contains("tenant browserco"));
                browser.go("/");
                browser.waitFor(By.tagName("h1"));
                assertThat(browser.pageText()).doesNotContain(VM);
                browser.assertNoConsoleErrors();
            }
        }
    }

    @Test
    @Order(5)
    void theGuestsTenantRequestsAnIntrospectionAndAnOperatorApprovesIt() throws IOException {
        try (Browser operator = Browser.open(base()); Browser tenant = Browser.open(base())) {
            logInAsOperator(operator);
            operator.go("/tenants");
            if (operator.findAll(By.xpath("//td/strong[text()='browserco']")).isEmpty()) {
                operator.find(By.cssSelector("#new-tenant input[name=id]")).sendKeys("browserco");
                operator.find(By.cssSelector("#new-tenant input[name=displayName]")).sendKeys("Browser Co");
                operator.find(By.cssSelector("#new-tenant button[type=submit]")).click();
                operator.waitFor(By.xpath("//td/strong[text()='browserco']"));
            }
            operator.assertNoConsoleErrors();

            String user = "bt-bco-" + Long.toString(System.nanoTime() % 1_000_000_000L, 36);
            String password = Accounts.randomPassword();
            accounts.createUser(user, password, Role.TENANT_USER, "browserco").block();
            tenant.logIn(user, password);
            tenant.waitFor(By.linkText(VM));
            tenant.go("/requests");
            new Select(tenant.find(By.cssSelector("form[data-api] select[name=vm]"))).selectByValue(VM_ID);
            tenant.find(By.cssSelector("form[data-api] input[name=minutes]")).clear();
            tenant.find(By.cssSelector("form[data-api] input[name=minutes]")).sendKeys("2");
            tenant.find(By.cssSelector("form[data-api] input[name=reason]")).sendKeys("browser test: who runs here?");
            tenant.find(By.cssSelector("form[data-api] button[type=submit]")).click();
            tenant.waitFor(By.xpath("//td[text()='browser test: who runs here?']"));
            tenant.screenshot("tenant-request-submitted");
            tenant.assertNoConsoleErrors();

            operator.go("/requests");
            var approve = operator.findAll(By.cssSelector("form[data-api$='/approve']"));
            if (!approve.isEmpty()) {
                approve.getFirst().findElement(By.name("reason")).sendKeys("ok for the test");
                approve.getFirst().findElement(By.cssSelector("button[type=submit]")).click();
            }
            operator.waitFor(By.xpath("//td[contains(., 'ok for the test') or contains(., 'tenant policy approves')]"));
            assertThat(operator.pageText()).contains("approved");
            operator.screenshot("operator-request-approved");
            operator.assertNoConsoleErrors();

            tenant.go("/requests");
            assertThat(tenant.pageText()).contains("approved");
            tenant.findAll(By.linkText("open")).getFirst().click();
            tenant.waitFor(By.cssSelector("#feed .row"));
            tenant.screenshot("tenant-session");
            tenant.assertNoConsoleErrors();
        }
    }

    private String base() {
        return "http://localhost:" + port;
    }

    /** The process table's cell texts, read in one go (the table is replaced while it refreshes). */
    @SuppressWarnings("unchecked")
    private static List<String> cells(Browser browser) {
        return (List<String>) browser.script(
                "return [...document.querySelectorAll('table.processes td')].map(td => td.textContent.trim())");
    }

    private static int points(Browser browser) {
        Object n = browser.script("return Number(document.getElementById('chart-events').dataset.points || 0)");
        return ((Number) n).intValue();
    }

    private static WebDriver driverOf(Browser browser) {
        return browser.driver();
    }

    private static void logInAsOperator(Browser browser) throws IOException {
        browser.logIn("operator", LabServerDirs.operatorPassword());
    }

}
