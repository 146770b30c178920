package dev.periscope.agent;

import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.TextFormat;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs who asked this agent for what: the caller's certificate subject (the control plane), the person or tool it
 * acts for and their tenant (metadata the control plane sends), the call and its request. Tenant rules are the
 * control plane's; this is the host's own record. Logger {@code periscope.agent.calls}, so operators can route it.
 */
public final class CallerLog implements ServerInterceptor {

    /** Who the control plane acts for. */
    public static final Metadata.Key<String> ACTOR = Metadata.Key.of("periscope-actor", Metadata.ASCII_STRING_MARSHALLER);
    /** The tenant of whom the control plane acts for, "" for operators. */
    public static final Metadata.Key<String> TENANT = Metadata.Key.of("periscope-tenant", Metadata.ASCII_STRING_MARSHALLER);
    private static final Logger calls = LoggerFactory.getLogger("periscope.agent.calls");
    private static final int MAX_REQUEST_TEXT = 300;

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                      ServerCallHandler<Q, A> next) {
        String caller = peer(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
        String actor = headers.get(ACTOR);
        String tenant = headers.get(TENANT);
        String method = call.getMethodDescriptor().getBareMethodName();
        String who = caller + " for " + (actor == null ? "?" : actor) + (tenant == null || tenant.isEmpty() ? ""
                : " (tenant " + tenant + ")");
        ServerCall.Listener<Q> listener = next.startCall(call, headers);
        return new SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onMessage(Q request) {
                calls.info("{}: {} {}", who, method, text(request));
                super.onMessage(request);
            }
        };
    }

    private static String text(Object request) {
        String t = request instanceof MessageOrBuilder m ? TextFormat.shortDebugString(m) : String.valueOf(request);
        return t.length() > MAX_REQUEST_TEXT ? t.substring(0, MAX_REQUEST_TEXT) + "..." : t;
    }

    /** The peer certificate's subject, or "in-process" when the call did not come over TLS. */
    private static String peer(SSLSession session) {
        if (session == null) {
            return "in-process";
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate x
                    ? x.getSubjectX500Principal().getName() : "unknown certificate";
        } catch (SSLPeerUnverifiedException e) {
            return "unverified peer";
        }
    }
}
