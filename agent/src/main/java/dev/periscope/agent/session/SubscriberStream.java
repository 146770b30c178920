package dev.periscope.agent.session;

import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.List;
import java.util.function.Consumer;

/**
 * A subscriber's gRPC stream of a session: the call (its flow control and cancellation) and how messages go out on
 * it. {@code StreamSessionBatches} sends what waited for the subscriber in batches, at most {@link #BATCH_MESSAGES}
 * messages and {@link #BATCH_BYTES} (one larger message goes alone); {@code StreamSession} sends one message per gRPC
 * message, as control planes of earlier releases read it.
 */
public final class SubscriberStream {

    static final int BATCH_MESSAGES = 512;
    static final int BATCH_BYTES = 256 * 1024;

    final ServerCallStreamObserver<?> call;
    /** The most messages one gRPC message carries. */
    final int messagesPerSend;
    private final Consumer<List<SessionMessage>> send;

    private SubscriberStream(ServerCallStreamObserver<?> call, int messagesPerSend,
                             Consumer<List<SessionMessage>> send) {
        this.call = call;
        this.messagesPerSend = messagesPerSend;
        this.send = send;
    }

    /** Batches of messages ({@code StreamSessionBatches}). */
    public static SubscriberStream batches(ServerCallStreamObserver<SessionMessages> call) {
        return new SubscriberStream(call, BATCH_MESSAGES,
                messages -> call.onNext(SessionMessages.newBuilder().addAllMessages(messages).build()));
    }

    /** One message per gRPC message ({@code StreamSession}). */
    public static SubscriberStream oneByOne(ServerCallStreamObserver<SessionMessage> call) {
        return new SubscriberStream(call, 1, messages -> call.onNext(messages.getFirst()));
    }

    /** Sends {@code messages} (at least one, at most {@link #messagesPerSend}) as one gRPC message. */
    void send(List<SessionMessage> messages) {
        send.accept(messages);
    }
}
