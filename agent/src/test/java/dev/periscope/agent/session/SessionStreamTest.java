package dev.periscope.agent.session;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.DropSite;
import dev.periscope.agent.api.Dropped;
import dev.periscope.agent.api.Notice;
import dev.periscope.agent.api.OverheadSample;
import dev.periscope.agent.api.SessionEnded;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A session's stream over gRPC's real in-process transport (its flow control included): numbering, replay for
 * resuming subscribers, bounded loss with markers for slow ones, completion after the end.
 */
class SessionStreamTest {

    private SessionStream stream;
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws IOException {
        stream = new SessionStream(100, 50, 1);
        String name = "stream-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(new AgentGrpc.AgentImplBase() {
            @Override
            public void streamSessionBatches(StreamSessionRequest request, StreamObserver<SessionMessages> out) {
                stream.subscribe(request.getAfterSeq(),
                        SubscriberStream.batches((ServerCallStreamObserver<SessionMessages>) out));
            }

            @Override
            public void streamSession(StreamSessionRequest request, StreamObserver<SessionMessage> out) {
                stream.subscribe(request.getAfterSeq(),
                        SubscriberStream.oneByOne((ServerCallStreamObserver<SessionMessage>) out));
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    private static SessionMessage.Builder notice(int i) {
        return SessionMessage.newBuilder().setNotice(Notice.newBuilder().setMessage(Integer.toString(i)));
    }

    private static SessionMessage.Builder end() {
        return SessionMessage.newBuilder().setEnded(SessionEnded.getDefaultInstance());
    }

    private List<SessionMessage> readAll(long afterSeq) {
        List<SessionMessage> got = new ArrayList<>();
        Iterator<SessionMessages> it = AgentGrpc.newBlockingStub(channel)
                .streamSessionBatches(StreamSessionRequest.newBuilder().setAfterSeq(afterSeq).build());
        it.forEachRemaining(batch -> got.addAll(batch.getMessagesList()));
        return got;
    }

    @Test
    void messagesAreNumberedAndTheStreamCompletesAfterTheEnd() {
        for (int i = 0; i < 10; i++) {
            assertThat(stream.append(notice(i))).isEqualTo(i + 1);
        }
        stream.append(end());
        assertThat(stream.append(notice(99))).as("after the end: discarded").isEqualTo(-1);
        List<SessionMessage> got = readAll(0);
        assertThat(got).extracting(SessionMessage::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L);
        assertThat(got.getLast().hasEnded()).isTrue();
        assertThat(got.getFirst().hasAt()).isTrue();
    }

    @Test
    void aControlPlaneOfAnEarlierReleaseGetsTheSameMessagesOneByOne() {
        for (int i = 0; i < 10; i++) {
            stream.append(notice(i));
        }
        stream.append(end());
        List<SessionMessage> got = new ArrayList<>();
        AgentGrpc.newBlockingStub(channel).streamSession(StreamSessionRequest.getDefaultInstance())
                .forEachRemaining(got::add);
        assertThat(got).extracting(SessionMessage::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L);
        assertThat(got.getLast().hasEnded()).isTrue();
    }

    @Test
    void overheadSamplesTakeNoNumberAndAreNotReplayed() {
        stream.append(notice(0));
        assertThat(stream.append(SessionMessage.newBuilder().setOverhead(OverheadSample.getDefaultInstance())))
                .as("a sample a full queue may leave out must not leave a gap in the numbers").isZero();
        stream.append(notice(1));
        stream.append(end());
        assertThat(readAll(0)).extracting(SessionMessage::getSeq).containsExactly(1L, 2L, 3L);
    }

    @Test
    void aResumingSubscriberGetsWhatItMissedAndAGapMarkerForWhatIsNoLongerKept() {
        for (int i = 0; i < 150; i++) {
            stream.append(notice(i));
        }
        stream.append(end());
        assertThat(readAll(140)).extracting(SessionMessage::getSeq).containsExactly(141L, 142L, 143L, 144L, 145L,
                146L, 147L, 148L, 149L, 150L, 151L);
        List<SessionMessage> old = readAll(10);
        assertThat(old.getFirst().getDropped().getSite()).isEqualTo(DropSite.REPLAY);
        assertThat(old.getFirst().getDropped().getCount()).as("52..61 were dropped from the replay").isEqualTo(41);
        assertThat(old.get(1).getSeq()).isEqualTo(52);
    }

    private static SessionMessage.Builder lost(long count, DropSite site) {
        return SessionMessage.newBuilder().setDropped(Dropped.newBuilder().setCount(count).setSite(site));
    }

    /** What a subscriber's markers say was lost, by site. */
    private static Map<DropSite, Long> losses(List<SessionMessage> got) {
        Map<DropSite, Long> by = new EnumMap<>(DropSite.class);
        got.stream().filter(SessionMessage::hasDropped)
                .forEach(m -> by.merge(m.getDropped().getSite(), m.getDropped().getCount(), Long::sum));
        return by;
    }

    @Test
    void aResumeFromBeforeTheReplayStillGetsTheLossesItsDropMarkersCounted() {
        stream = new SessionStream(100, 1000, 1);
        for (int i = 0; i < 20; i++) {
            stream.append(notice(i));
        }
        stream.append(lost(500, DropSite.SESSION_BUFFER)); // seq 21: 500 events lost in the engine
        for (int i = 20; i < 40; i++) {
            stream.append(notice(i));
        }
        stream.append(lost(7, DropSite.HYPERVISOR_RING)); // seq 42
        for (int i = 40; i < 200; i++) {
            stream.append(notice(i));
        }
        stream.append(end()); // seq 203; the replay keeps 104..203

        List<SessionMessage> fromStart = readAll(0);
        long notices = fromStart.stream().filter(SessionMessage::hasNotice).count();
        assertThat(losses(fromStart)).as("101 other messages missed, and the two markers as they were")
                .containsExactlyInAnyOrderEntriesOf(Map.of(DropSite.REPLAY, 101L, DropSite.SESSION_BUFFER, 500L,
                        DropSite.HYPERVISOR_RING, 7L));
        assertThat(notices + 101).as("every notice received or counted").isEqualTo(200);

        assertThat(losses(readAll(30))).as("resuming after the first marker: only the second")
                .containsExactlyInAnyOrderEntriesOf(Map.of(DropSite.REPLAY, 72L, DropSite.HYPERVISOR_RING, 7L));
    }

    @Test
    void dropMarkersLetGoBeyondTheirLimitAreAddedUpNeverLost() {
        stream = new SessionStream(10, 2000, 1);
        long total = 0;
        for (int i = 0; i < SessionStream.MARKERS_KEPT + 50; i++) {
            stream.append(lost(i + 1, i % 2 == 0 ? DropSite.SESSION_BUFFER : DropSite.HYPERVISOR_RING));
            total += i + 1;
        }
        for (int i = 0; i < 20; i++) {
            stream.append(notice(i));
        }
        stream.append(end());

        List<SessionMessage> got = readAll(0);
        assertThat(got.stream().filter(SessionMessage::hasDropped).count()).as("bounded")
                .isLessThanOrEqualTo(SessionStream.MARKERS_KEPT + 1);
        assertThat(losses(got).get(DropSite.SESSION_BUFFER) + losses(got).get(DropSite.HYPERVISOR_RING))
                .isEqualTo(total);
        assertThat(losses(got).get(DropSite.REPLAY)).as("the 11 notices the replay let go, not the markers")
                .isEqualTo(11);
    }

    /** A subscriber that asks for one batch of messages, and for more only when the test says so. */
    private static final class SlowReader implements ClientResponseObserver<StreamSessionRequest, SessionMessages> {
        final List<SessionMessage> got = new ArrayList<>();
        final List<SessionMessages> batches = new ArrayList<>();
        final CountDownLatch completed = new CountDownLatch(1);
        ClientCallStreamObserver<StreamSessionRequest> call;

        @Override
        public void beforeStart(ClientCallStreamObserver<StreamSessionRequest> call) {
            this.call = call;
            call.disableAutoRequestWithInitial(1);
        }

        @Override
        public synchronized void onNext(SessionMessages batch) {
            batches.add(batch);
            got.addAll(batch.getMessagesList());
        }

        @Override
        public void onError(Throwable t) {
            completed.countDown();
        }

        @Override
        public void onCompleted() {
            completed.countDown();
        }
    }

    @Test
    void aSlowSubscriberLosesCountedMessagesAndNeverHoldsUpTheProducerOrOtherSubscribers() throws Exception {
        SlowReader slow = new SlowReader();
        AgentGrpc.newStub(channel).streamSessionBatches(StreamSessionRequest.getDefaultInstance(), slow);
        long t0 = System.nanoTime();
        for (int i = 0; i < 10_000; i++) {
            stream.append(notice(i)); // the slow reader has asked for one message only
        }
        long appendNanos = System.nanoTime() - t0;
        List<SessionMessage> fast = new ArrayList<>();
        Thread fastReader = Thread.ofPlatform().start(() -> fast.addAll(readAll(9_990)));
        stream.append(end());
        fastReader.join(5_000);
        assertThat(fast).as("a fast subscriber is not held up").hasSize(11);
        assertThat(appendNanos).as("appending never waits for a reader").isLessThan(TimeUnit.SECONDS.toNanos(5));

        slow.call.request(Integer.MAX_VALUE);
        assertThat(slow.completed.await(5, TimeUnit.SECONDS)).isTrue();
        long delivered = slow.got.stream().filter(m -> !m.hasDropped()).count();
        long lost = slow.got.stream().filter(SessionMessage::hasDropped)
                .peek(m -> assertThat(m.getDropped().getSite()).isEqualTo(DropSite.AGENT_STREAM))
                .mapToLong(m -> m.getDropped().getCount()).sum();
        assertThat(delivered).as("bounded by its queue (50) and what gRPC holds").isLessThanOrEqualTo(60);
        assertThat(delivered + lost).as("every message delivered or counted").isEqualTo(10_001);
        assertThat(slow.got.getLast().hasEnded()).isTrue();
        assertThat(slow.batches.size()).as("what waited went in a few batches, not one gRPC message each")
                .isLessThan((int) delivered / 10);
    }

    @Test
    void aBatchHoldsAtMost512Messages() throws Exception {
        stream = new SessionStream(100, 2000, 1);
        SlowReader slow = new SlowReader();
        AgentGrpc.newStub(channel).streamSessionBatches(StreamSessionRequest.getDefaultInstance(), slow);
        for (int i = 0; i < 1500; i++) {
            stream.append(notice(i));
        }
        stream.append(end());
        slow.call.request(Integer.MAX_VALUE);
        assertThat(slow.completed.await(5, TimeUnit.SECONDS)).isTrue();

        assertThat(slow.got).hasSize(1501);
        assertThat(slow.batches).extracting(SessionMessages::getMessagesCount)
                .allMatch(n -> n <= SubscriberStream.BATCH_MESSAGES).contains(SubscriberStream.BATCH_MESSAGES);
    }

    @Test
    void aBatchHoldsAtMostItsBytesUnlessOneMessageIsLargerByItself() throws Exception {
        SlowReader slow = new SlowReader();
        AgentGrpc.newStub(channel).streamSessionBatches(StreamSessionRequest.getDefaultInstance(), slow);
        String large = "x".repeat(100 * 1024);
        for (int i = 0; i < 10; i++) {
            stream.append(SessionMessage.newBuilder().setNotice(Notice.newBuilder().setMessage(large + i)));
        }
        stream.append(SessionMessage.newBuilder().setNotice(Notice.newBuilder().setMessage("y".repeat(300 * 1024))));
        stream.append(end());
        slow.call.request(Integer.MAX_VALUE);
        assertThat(slow.completed.await(5, TimeUnit.SECONDS)).isTrue();

        assertThat(slow.got).extracting(SessionMessage::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L,
                11L, 12L);
        assertThat(slow.batches).as("two or one of the 100 KiB notices a batch, the 300 KiB one alone")
                .allSatisfy(batch -> assertThat(batch.getMessagesCount() == 1 || batch.getMessagesList().stream()
                        .mapToInt(SessionMessage::getSerializedSize).sum() <= SubscriberStream.BATCH_BYTES).isTrue())
                .anySatisfy(batch -> assertThat(batch.getMessagesCount()).isEqualTo(2));
    }

    @Test
    void aDropMarkerThatFindsTheQueueFullKeepsItsCountForTheNextMarkerOfItsSite() throws Exception {
        SlowReader slow = new SlowReader();
        AgentGrpc.newStub(channel).streamSessionBatches(StreamSessionRequest.getDefaultInstance(), slow);
        for (int i = 0; i < 100; i++) {
            stream.append(notice(i));
        }
        stream.append(SessionMessage.newBuilder().setDropped(Dropped.newBuilder()
                .setCount(1000).setSite(DropSite.HYPERVISOR_RING)));
        for (int i = 0; i < 5; i++) {
            stream.append(notice(100 + i));
        }
        stream.append(end());
        slow.call.request(Integer.MAX_VALUE);
        assertThat(slow.completed.await(5, TimeUnit.SECONDS)).isTrue();
        long ring = slow.got.stream().filter(m -> m.hasDropped() && m.getDropped().getSite() == DropSite.HYPERVISOR_RING)
                .mapToLong(m -> m.getDropped().getCount()).sum();
        long lostHere = slow.got.stream().filter(m -> m.hasDropped() && m.getDropped().getSite() == DropSite.AGENT_STREAM)
                .mapToLong(m -> m.getDropped().getCount()).sum();
        long notices = slow.got.stream().filter(SessionMessage::hasNotice).count();
        assertThat(ring).as("the ring's loss, whole").isEqualTo(1000);
        assertThat(notices + lostHere).as("every notice delivered or counted").isEqualTo(105);
        assertThat(slow.got.getLast().hasEnded()).isTrue();
    }

    @Test
    void aSubscriberThatLeavesIsForgottenAndTheSessionKnowsNobodyWatches() throws Exception {
        SlowReader reader = new SlowReader();
        AgentGrpc.newStub(channel).streamSessionBatches(StreamSessionRequest.getDefaultInstance(), reader);
        stream.append(notice(1));
        assertThat(stream.subscribers()).isEqualTo(1);
        assertThat(stream.unwatchedNanos()).isZero();
        reader.call.cancel("gone", null);
        assertThat(reader.completed.await(5, TimeUnit.SECONDS)).isTrue();
        stream.append(notice(2));
        assertThat(stream.subscribers()).isZero();
        Thread.sleep(5);
        assertThat(stream.unwatchedNanos()).isPositive();
    }
}
