package dev.periscope.agent;

import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The PEM files of one side of the agent API's mutual TLS: the CA both sides trust, this side's certificate and its
 * private key (PKCS#8). An agent refuses a caller whose certificate the CA did not sign, and the control plane refuses
 * an agent likewise (and checks that the agent's certificate names {@link #AGENT_NAME}; a tenant's agent's also names
 * its tenant, {@code urn:periscope:tenant:TENANT}, which binds it to that tenant). The project's own script
 * ({@code agent/certs.sh}) makes them for the lab, compose and the tests.
 */
public record TlsFiles(Path ca, Path certificate, Path privateKey) {

    /** The name every agent certificate carries (a DNS subject alternative name); the control plane checks it. */
    public static final String AGENT_NAME = "periscope-agent";

    public TlsFiles {
        Objects.requireNonNull(ca, "ca");
        Objects.requireNonNull(certificate, "certificate");
        Objects.requireNonNull(privateKey, "privateKey");
        for (Path p : new Path[] {ca, certificate, privateKey}) {
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException("TLS file " + p + " is missing or unreadable");
            }
        }
    }

    /** An agent's credentials: clients must present a certificate signed by the CA. */
    public ServerCredentials server() {
        try {
            return TlsServerCredentials.newBuilder().keyManager(certificate.toFile(), privateKey.toFile())
                    .trustManager(ca.toFile()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE).build();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the agent's TLS files: " + e.getMessage(), e);
        }
    }

    /** The control plane's credentials towards agents. */
    public ChannelCredentials client() {
        try {
            return TlsChannelCredentials.newBuilder().keyManager(certificate.toFile(), privateKey.toFile())
                    .trustManager(ca.toFile()).build();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the control plane's TLS files: " + e.getMessage(), e);
        }
    }
}
