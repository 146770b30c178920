package dev.periscope.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.system.WebSliceConfiguration;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Base64;
import java.util.UUID;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The server on HTTPS (a self-signed certificate made by the JDK's keytool for this run): responses carry HSTS, the
 * session cookie is Secure, and neither the key store's password nor its private key is logged.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"periscope.demo-data=false", "periscope.fleet.embedded-agent.enabled=false",
                "periscope.xen-lab.enabled=false", "periscope.libvirt.enabled=false"})
@Import(LogCapture.class)
class TlsTest {

    private static final Path VAR = WebSliceConfiguration.newVarDir();
    private static final Path KEY_STORE = VAR.resolve("server.p12");
    private static final String PASSWORD = "ks-" + UUID.randomUUID();

    @LocalServerPort
    int port;

    @DynamicPropertySource
    static void tls(DynamicPropertyRegistry registry) throws Exception {
        Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-storetype", "PKCS12",
                "-keystore", KEY_STORE.toString(), "-storepass", PASSWORD).redirectErrorStream(true).start();
        String out = new String(keytool.getInputStream().readAllBytes());
        assertThat(keytool.waitFor()).as("keytool: " + out).isZero();
        registry.add("periscope.var-dir", VAR::toString);
        registry.add("server.ssl.enabled", () -> "true");
        registry.add("server.ssl.key-store", KEY_STORE::toString);
        registry.add("server.ssl.key-store-type", () -> "PKCS12");
        registry.add("server.ssl.key-store-password", () -> PASSWORD);
    }

    @Test
    void httpsResponsesCarryHstsAndASecureSessionCookie() throws Exception {
        Http https = new Http("https://localhost:" + port, HttpClient.newBuilder().sslContext(trusting())
                .version(HttpClient.Version.HTTP_1_1).build());
        Http.Response login = https.get("/login").send();
        assertThat(login.status()).isEqualTo(200);
        assertThat(login.header("Strict-Transport-Security")).hasValue("max-age=31536000 ; includeSubDomains");
        assertThat(login.header("Content-Security-Policy")).hasValue(BrowserSecurityTest.CSP);
        assertThat(login.all("set-cookie")).filteredOn(c -> c.startsWith("SESSION="))
                .singleElement().asString().containsIgnoringCase("; Secure").containsIgnoringCase("HttpOnly")
                .containsIgnoringCase("SameSite=Lax");
        assertThat(https.get("/api/v1/vms").send().header("Strict-Transport-Security")).as("on refusals too")
                .isPresent();

        Secrets secrets = new Secrets();
        secrets.add("key store password", PASSWORD);
        KeyStore store = load();
        secrets.add("private key", Base64.getEncoder().encodeToString(store.getKey("server", PASSWORD.toCharArray())
                .getEncoded()));
        assertThat(secrets.foundIn("the server's log", LogCapture.text())).isEmpty();
    }

    private static SSLContext trusting() throws GeneralSecurityException, IOException {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(load());
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    private static KeyStore load() throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(KEY_STORE)) {
            store.load(in, PASSWORD.toCharArray());
        }
        return store;
    }
}
