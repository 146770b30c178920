package dev.periscope.fleet;

import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.Optional;

/**
 * Reads each call's agent from the call's own TLS session, as soon as gRPC tells it (the agent's headers, or its
 * closing status when it sent none), and asks the link whether the call may deliver what that agent answered. A
 * refused call delivers nothing of the answer: it fails {@code PERMISSION_DENIED} with the reason.
 */
final class AgentCertificateCheck implements ClientInterceptor {

    /** The link's decision on one call; each method returns why the call is refused, empty to admit it. */
    interface Admission {
        /** The call's agent has a certificate binding it to {@code binding}. */
        Optional<String> admit(CallOptions call, AgentBinding binding);

        /** The call's agent has a certificate the control plane does not accept. */
        Optional<String> refuse(CallOptions call, AgentRefusedException why);
    }

    private final Admission admission;

    AgentCertificateCheck(Admission admission) {
        this.admission = admission;
    }

    @Override
    public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
            @Override
            public void start(Listener<A> listener, Metadata headers) {
                ClientCall<Q, A> call = this;
                super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                    // gRPC calls a listener serially: these need no lock
                    private boolean checked;
                    private String refused;

                    private void check() {
                        if (!checked) {
                            checked = true;
                            refused = decide(options, call).orElse(null);
                        }
                    }

                    @Override
                    public void onHeaders(Metadata answerHeaders) {
                        check();
                        if (refused == null) {
                            super.onHeaders(answerHeaders);
                        } else {
                            call.cancel(refused, null);
                        }
                    }

                    @Override
                    public void onMessage(A message) {
                        if (refused == null) {
                            super.onMessage(message);
                        }
                    }

                    @Override
                    public void onClose(Status status, Metadata trailers) {
                        check();
                        if (refused == null) {
                            super.onClose(status, trailers);
                        } else {
                            super.onClose(Status.PERMISSION_DENIED.withDescription(refused), new Metadata());
                        }
                    }
                }, headers);
            }
        };
    }

    /** A call that reached no agent (it failed before a transport carried it) delivers nothing of one: admitted. */
    private Optional<String> decide(CallOptions options, ClientCall<?, ?> call) {
        Attributes transport = call.getAttributes();
        if (transport.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR) == null) {
            return Optional.empty();
        }
        try {
            return admission.admit(options, AgentBinding.of(transport.get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
        } catch (AgentRefusedException e) {
            return admission.refuse(options, e);
        }
    }
}
