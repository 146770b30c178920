package dev.periscope.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an agent's certificate binds it to, read from certificates made by {@code agent/certs.sh} (a plain agent, a
 * tenant's agent) and by openssl with the script's CA (two tenants, malformed tenant URNs).
 */
class AgentBindingTest {

    @TempDir
    static Path pki;

    @BeforeAll
    static void certificates() {
        TestPki.certs(pki, "--agent", "dom0", "--tenant-agent", "mon-acme:acme");
        TestPki.agent(pki, "two", "URI:urn:periscope:tenant:acme", "URI:urn:periscope:tenant:globex");
        TestPki.agent(pki, "short", "URI:urn:periscope:tenant:a");
        TestPki.agent(pki, "bare", "URI:urn:periscope:tenant");
        TestPki.agent(pki, "shouting", "URI:URN:Periscope:Tenant:acme");
        TestPki.agent(pki, "other-urn", "URI:urn:example:tenant:globex", "URI:https://periscope.example/agents/x");
    }

    private static X509Certificate certificate(String agent) throws IOException, CertificateException {
        try (InputStream in = Files.newInputStream(pki.resolve("agent-" + agent + ".pem"))) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    @Test
    void aPlainAgentServesEveryTenantAndATenantAgentItsTenant() throws Exception {
        assertThat(AgentBinding.of(certificate("dom0"))).isEqualTo(AgentBinding.UNBOUND);
        assertThat(AgentBinding.of(certificate("mon-acme"))).isEqualTo(new AgentBinding.Tenant("acme", "mon-acme"));
        assertThat(AgentBinding.of(certificate("mon-acme")).tenant()).contains("acme");
        assertThat(AgentBinding.of(certificate("shouting"))).as("URN scheme and namespace ignore case")
                .isEqualTo(new AgentBinding.Tenant("acme", "shouting"));
        assertThat(AgentBinding.of(certificate("other-urn"))).as("other URIs bind nothing")
                .isEqualTo(AgentBinding.UNBOUND);
    }

    @Test
    void twoTenantsOrAMalformedTenantUrnAreRefusedWithTheReason() {
        assertThatThrownBy(() -> AgentBinding.of(certificate("two"))).isInstanceOf(AgentRefusedException.class)
                .hasMessage("its certificate names 2 tenants (urn:periscope:tenant:acme, urn:periscope:tenant:globex);"
                        + " a tenant's agent names exactly one");
        assertThatThrownBy(() -> AgentBinding.of(certificate("short"))).isInstanceOf(AgentRefusedException.class)
                .hasMessageContaining("tenant URN 'urn:periscope:tenant:a' does not name a tenant");
        assertThatThrownBy(() -> AgentBinding.of(certificate("bare"))).isInstanceOf(AgentRefusedException.class)
                .hasMessageContaining("tenant URN 'urn:periscope:tenant' does not name a tenant");
        assertThatThrownBy(() -> new AgentBinding.Tenant("ACME", "mon-acme")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aTenantAgentMayReportOnlyTheHostItsCertificateIsIssuedTo() throws Exception {
        AgentBinding monitor = AgentBinding.of(certificate("mon-acme"));
        assertThat(monitor.refusesHost("mon-acme")).isEmpty();
        assertThat(monitor.refusesHost("dom0")).hasValue("tenant acme's agent reports host 'dom0', but its certificate"
                + " is issued to 'mon-acme': it cannot stand in for another host's agent");
        assertThat(AgentBinding.of(certificate("dom0")).refusesHost("any-host")).as("an agent of every tenant").isEmpty();
    }
}
