package dev.periscope.fleet;

import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Whom an agent serves, as its certificate says: every tenant (a host's agent in dom0, the embedded one), or one
 * tenant (a tenant's monitor in its own monitoring domain), named by a subject alternative name
 * {@code URI:urn:periscope:tenant:TENANT} ({@code agent/certs.sh --tenant-agent NAME:TENANT} issues one). A
 * tenant-bound agent's VMs are that tenant's, whatever the agent labels them and whatever an operator assigned.
 */
public sealed interface AgentBinding {

    /** The URI prefix of a tenant binding (compared without regard to case, as URN schemes and namespaces are). */
    String TENANT_URN = "urn:periscope:tenant:";
    /** A tenant id, as the control plane's tenants are named. */
    Pattern TENANT_ID = Pattern.compile("[a-z][a-z0-9]{1,30}");
    /** The type of a URI among a certificate's subject alternative names (RFC 5280's uniformResourceIdentifier). */
    int URI_NAME = 6;
    /** An agent that serves every tenant. */
    AgentBinding UNBOUND = new Unbound();

    /** The tenant the agent is bound to; empty when it serves every tenant. */
    Optional<String> tenant();

    /** Serves every tenant: its VMs' tenants are the operator's assignments or else their platform's labels. */
    record Unbound() implements AgentBinding {
        @Override
        public Optional<String> tenant() {
            return Optional.empty();
        }
    }

    /**
     * A tenant's monitor: every VM it reports is {@code id}'s, and it may report them only as host {@code host}, the
     * name its certificate is issued to (its subject's CN), so that it can never stand in for another host's agent.
     */
    record Tenant(String id, String host) implements AgentBinding {
        public Tenant {
            if (!TENANT_ID.matcher(id).matches()) {
                throw new IllegalArgumentException("'" + id + "' is not a tenant id (" + TENANT_ID + ")");
            }
            Objects.requireNonNull(host, "host");
        }

        @Override
        public Optional<String> tenant() {
            return Optional.of(id);
        }

        @Override
        public Optional<String> refusesHost(String reported) {
            return host.equals(reported) ? Optional.empty() : Optional.of("tenant " + id + "'s agent reports host '"
                    + reported + "', but its certificate is issued to '" + host + "': it cannot stand in for another "
                    + "host's agent");
        }
    }

    /** Why this agent may not report VMs under {@code host}, empty when it may. */
    default Optional<String> refusesHost(String host) {
        return Optional.empty();
    }

    /**
     * The binding of the agent at the other end of {@code session}; unbound without a session (an agent in this JVM,
     * reached in-process). Refused when its certificate names more than one tenant or a tenant URN that is not one.
     */
    static AgentBinding of(SSLSession session) throws AgentRefusedException {
        if (session == null) {
            return UNBOUND;
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            if (chain.length == 0 || !(chain[0] instanceof X509Certificate agent)) {
                throw new AgentRefusedException("the agent presented no X.509 certificate");
            }
            return of(agent);
        } catch (SSLPeerUnverifiedException e) {
            throw new AgentRefusedException("the agent's certificate was not verified: " + e.getMessage());
        }
    }

    /** The binding {@code certificate}'s subject alternative names give. */
    static AgentBinding of(X509Certificate certificate) throws AgentRefusedException {
        List<String> claims = tenantUris(certificate);
        if (claims.isEmpty()) {
            return UNBOUND;
        }
        if (claims.size() > 1) {
            throw new AgentRefusedException("its certificate names " + claims.size() + " tenants (" + String.join(", ",
                    claims) + "); a tenant's agent names exactly one");
        }
        String uri = claims.getFirst();
        if (!uri.regionMatches(true, 0, TENANT_URN, 0, TENANT_URN.length())
                || !TENANT_ID.matcher(uri.substring(TENANT_URN.length())).matches()) {
            throw new AgentRefusedException("its certificate's tenant URN '" + uri + "' does not name a tenant ("
                    + TENANT_URN + "TENANT, TENANT matching " + TENANT_ID + ")");
        }
        return new Tenant(uri.substring(TENANT_URN.length()), commonName(certificate));
    }

    /** The CN of the certificate's subject: the name {@code agent/certs.sh} issued it to. */
    private static String commonName(X509Certificate certificate) throws AgentRefusedException {
        try {
            return new LdapName(certificate.getSubjectX500Principal().getName()).getRdns().stream()
                    .filter(rdn -> rdn.getType().equalsIgnoreCase("CN"))
                    .map(rdn -> String.valueOf(rdn.getValue()))
                    .reduce((first, second) -> second)
                    .orElseThrow(() -> new AgentRefusedException("its certificate names a tenant but no host (no CN)"));
        } catch (InvalidNameException e) {
            throw new AgentRefusedException("its certificate's subject cannot be read: " + e.getMessage());
        }
    }

    private static Collection<List<?>> names(X509Certificate certificate) throws AgentRefusedException {
        try {
            Collection<List<?>> names = certificate.getSubjectAlternativeNames();
            return names == null ? List.of() : names;
        } catch (CertificateParsingException e) {
            throw new AgentRefusedException("its certificate's subject alternative names cannot be read: "
                    + e.getMessage());
        }
    }

    /** The certificate's URI names in the tenant namespace (anything starting {@code urn:periscope:tenant}). */
    private static List<String> tenantUris(X509Certificate certificate) throws AgentRefusedException {
        String namespace = TENANT_URN.substring(0, TENANT_URN.length() - 1);
        return names(certificate).stream()
                .filter(n -> n.size() == 2 && n.get(0) instanceof Integer type && type == URI_NAME
                        && n.get(1) instanceof String)
                .map(n -> (String) n.get(1))
                .filter(uri -> uri.regionMatches(true, 0, namespace, 0, namespace.length()))
                .toList();
    }
}
