package dev.periscope.fleet;

import com.google.protobuf.Timestamp;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.Notice;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.vmi.trace.TraceMethod;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/**
 * A session's stream through the control plane's link, from agents made for the test over the real gRPC client: the
 * agent's batches arrive as single messages in order, everything that came before the agent failed arrives before
 * the failure, and an agent of an earlier release (no batches) is streamed one message at a time.
 */
class AgentLinkStreamTest {

    private Server server;
    private ManagedChannel channel;
    private AgentLink link;
    private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();

    private AgentLink link(BindableService agent) throws IOException {
        String name = "link-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).addService(agent).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        link = new AgentLink("in-process:" + name, channel, Duration.ofSeconds(30), Duration.ofSeconds(5), timers,
                l -> { });
        return link;
    }

    @AfterEach
    void stop() {
        link.close();
        server.shutdownNow();
        timers.shutdownNow();
    }

    private static SessionMessage notice(long seq) {
        return SessionMessage.newBuilder().setSeq(seq).setAt(Timestamp.newBuilder().setSeconds(1))
                .setNotice(Notice.newBuilder().setMessage("n" + seq)).build();
    }

    private static SessionMessages batch(long from, long to) {
        return SessionMessages.newBuilder().addAllMessages(LongStream.rangeClosed(from, to)
                .mapToObj(AgentLinkStreamTest::notice).toList()).build();
    }

    @Test
    void whatTheAgentSentBeforeItFailedArrivesBeforeTheFailureEvenToASlowReader() throws IOException {
        AgentLink link = link(new AgentGrpc.AgentImplBase() {
            @Override
            public void streamSessionBatches(StreamSessionRequest request, StreamObserver<SessionMessages> out) {
                out.onNext(batch(1, 512));
                out.onNext(batch(513, 1024));
                out.onNext(batch(1025, 1536));
                out.onError(Status.UNAVAILABLE.withDescription("connection reset").asRuntimeException());
            }
        });

        StepVerifier.create(link.stream("s-1", "vm-1", TraceMethod.M5, 0, AgentLink.Actor.CONTROL_PLANE), 1)
                .expectNextMatches(m -> m.seq() == 1)
                .thenAwait(Duration.ofMillis(300)) // the agent has sent its three batches and failed
                .thenRequest(Long.MAX_VALUE)
                .expectNextCount(1534)
                .expectNextMatches(m -> m.seq() == 1536 && m.body() instanceof AgentMessage.Notice n
                        && n.message().equals("n1536"))
                .expectError(AgentUnreachableException.class)
                .verify(Duration.ofSeconds(10));
    }

    @Test
    void anAgentOfAnEarlierReleaseIsStreamedOneMessageAtATime() throws IOException {
        AgentLink link = link(new AgentGrpc.AgentImplBase() {
            @Override
            public void streamSession(StreamSessionRequest request, StreamObserver<SessionMessage> out) {
                for (long seq = request.getAfterSeq() + 1; seq <= 5; seq++) {
                    out.onNext(notice(seq));
                }
                out.onCompleted();
            }
        });

        StepVerifier.create(link.stream("s-1", "vm-1", TraceMethod.M5, 2, AgentLink.Actor.CONTROL_PLANE))
                .expectNextMatches(m -> m.seq() == 3)
                .expectNextMatches(m -> m.seq() == 4)
                .expectNextMatches(m -> m.seq() == 5)
                .verifyComplete();
    }

    @Test
    void anotherFailureOfTheBatchedCallIsNotRetriedTheOldWay() throws IOException {
        AgentLink link = link(new AgentGrpc.AgentImplBase() {
            @Override
            public void streamSessionBatches(StreamSessionRequest request, StreamObserver<SessionMessages> out) {
                out.onError(Status.UNAVAILABLE.asRuntimeException());
            }

            @Override
            public void streamSession(StreamSessionRequest request, StreamObserver<SessionMessage> out) {
                out.onNext(notice(1));
                out.onCompleted();
            }
        });

        StepVerifier.create(link.stream("s-1", "vm-1", TraceMethod.M5, 0, AgentLink.Actor.CONTROL_PLANE))
                .expectError(AgentUnreachableException.class)
                .verify(Duration.ofSeconds(10));
    }
}
