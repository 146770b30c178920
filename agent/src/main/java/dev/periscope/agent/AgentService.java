package dev.periscope.agent;

import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.CloseSessionRequest;
import dev.periscope.agent.api.DisarmReply;
import dev.periscope.agent.api.DisarmRequest;
import dev.periscope.agent.api.DomainsUpdate;
import dev.periscope.agent.api.GetInfoRequest;
import dev.periscope.agent.api.HostInfo;
import dev.periscope.agent.api.ListProcessesRequest;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.Platform;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.agent.api.WatchDomainsRequest;
import dev.periscope.agent.session.SubscriberStream;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.Callable;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * The agent API over this host's engine (the agent's side of the API): every call that reads guest memory or waits
 * for the engine runs on the agent's bounded engine executor, never on a gRPC transport thread; failures become
 * statuses with the engine's failure in the trailer ({@link AgentErrors}).
 */
final class AgentService extends AgentGrpc.AgentImplBase {

    private final HostAgent agent;

    AgentService(HostAgent agent) {
        this.agent = agent;
    }

    @Override
    public void getInfo(GetInfoRequest request, StreamObserver<HostInfo> out) {
        HostInfo.Builder info = HostInfo.newBuilder().setHost(agent.host()).setAgentVersion(HostAgent.VERSION)
                .setStartedAt(Codec.timestamp(agent.startedAt()));
        agent.platforms().forEach(p -> info.addPlatforms(Platform.newBuilder().setName(p)));
        out.onNext(info.build());
        out.onCompleted();
    }

    @Override
    public void watchDomains(WatchDomainsRequest request, StreamObserver<DomainsUpdate> out) {
        agent.domains().watch((ServerCallStreamObserver<DomainsUpdate>) out);
    }

    @Override
    public void listProcesses(ListProcessesRequest request, StreamObserver<ProcessList> out) {
        onEngine(out, () -> agent.processes(request.getVm(), Codec.mode(request.getMode())));
    }

    @Override
    public void openSession(OpenSessionRequest request, StreamObserver<SessionInfo> out) {
        onEngine(out, () -> agent.sessions().open(request));
    }

    @Override
    public void streamSessionBatches(StreamSessionRequest request, StreamObserver<SessionMessages> out) {
        stream(request, out, () -> SubscriberStream.batches((ServerCallStreamObserver<SessionMessages>) out));
    }

    @Override
    public void streamSession(StreamSessionRequest request, StreamObserver<SessionMessage> out) {
        stream(request, out, () -> SubscriberStream.oneByOne((ServerCallStreamObserver<SessionMessage>) out));
    }

    private void stream(StreamSessionRequest request, StreamObserver<?> out, Supplier<SubscriberStream> stream) {
        try {
            agent.sessions().stream(request.getId(), request.getAfterSeq(), stream.get());
        } catch (RuntimeException e) {
            out.onError(AgentErrors.status(e));
        }
    }

    @Override
    public void closeSession(CloseSessionRequest request, StreamObserver<SessionInfo> out) {
        onEngine(out, () -> agent.sessions().close(request.getId()));
    }

    @Override
    public void disarm(DisarmRequest request, StreamObserver<DisarmReply> out) {
        onEngine(out, () -> DisarmReply.newBuilder()
                .setWasArmed(!agent.sessions().activeOn(request.getVm()) && agent.engine().disarmEvents(request.getVm()))
                .build());
    }

    /** Answers unless the caller gave up meanwhile (a cancelled call takes no answer). */
    private static void answer(StreamObserver<?> out, Runnable reply) {
        if (!((ServerCallStreamObserver<?>) out).isCancelled()) {
            reply.run();
        }
    }

    /** Runs {@code call} on the engine executor and answers with its result or its failure. */
    private <T> void onEngine(StreamObserver<T> out, Callable<T> call) {
        try {
            agent.engineCalls().execute(() -> {
                T result;
                try {
                    result = call.call();
                } catch (Exception e) {
                    answer(out, () -> out.onError(AgentErrors.status(e)));
                    return;
                }
                answer(out, () -> {
                    out.onNext(result);
                    out.onCompleted();
                });
            });
        } catch (RejectedExecutionException e) {
            out.onError(AgentErrors.status(e));
        }
    }
}
