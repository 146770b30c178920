package dev.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.agent.api.AcquisitionMode;
import dev.periscope.agent.api.AgentGrpc;
import dev.periscope.agent.api.EndReason;
import dev.periscope.agent.api.OpenSessionRequest;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.ProcessListSpec;
import dev.periscope.agent.api.SessionInfo;
import dev.periscope.agent.api.SessionMessage;
import dev.periscope.agent.api.SessionMessages;
import dev.periscope.agent.api.StreamSessionRequest;
import dev.periscope.agent.api.TraceMethod;
import dev.periscope.agent.api.TraceSpec;
import dev.periscope.agent.session.AgentSessions;
import dev.periscope.agent.session.NoSuchSessionException;
import dev.periscope.agent.session.SubscriberStream;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.trace.SyntheticTraceRig;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Sessions on an agent, over the real trace machinery of a synthetic VM ({@link SyntheticTraceRig}: real ring, real
 * TraceHub, test producer) and gRPC's in-process transport: traces, process lists, reopening, orphans.
 */
class AgentSessionsTest {

    private final SyntheticTraceRig rig = new SyntheticTraceRig("vm-1");
    private final AtomicInteger lists = new AtomicInteger();
    /** As the real agent's: an executor's, which schedules no periodic work. */
    private final ExecutorService engineExecutor = Executors.newFixedThreadPool(2);
    private final Scheduler engineCalls = Schedulers.fromExecutor(engineExecutor);
    private final Scheduler dispatch = Schedulers.newParallel("test-dispatch", 1);
    private AgentSessions sessions;
    private Server server;
    private ManagedChannel channel;

    /** Holds traces' starts while set (an engine whose start is slow: a cold walk in a loaded dom0). */
    private volatile CountDownLatch traceStart;
    private final CountDownLatch traceStarting = new CountDownLatch(1);

    /** The engine seam: traces on the rig; process lists that fail once, then succeed, until the VM "goes". */
    private final AgentSessions.Engine engine = new SessionEngine() {
        @Override
        public TraceSession trace(String vm, TraceRequest request) {
            CountDownLatch gate = traceStart;
            if (gate != null) {
                traceStarting.countDown();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
            return rig.open(request);
        }

        @Override
        public ProcessList processes(String vm, dev.periscope.vmi.AcquisitionMode mode) {
            int n = lists.incrementAndGet();
            if (n == 1) {
                throw new GuestDataException("task list changed under the walk");
            }
            if (n == 4) {
                throw new VmGoneException(vm + " is not running");
            }
            return ProcessList.newBuilder().setVm(vm).setMode(AcquisitionMode.valueOf(mode.name())).build();
        }

    };

    @BeforeEach
    void start() throws IOException {
        open(AgentSessions.Limits.DEFAULT);
    }

    private void open(AgentSessions.Limits limits) throws IOException {
        sessions = new AgentSessions(engine, engineCalls, dispatch, limits);
        String name = "sessions-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).addService(new AgentGrpc.AgentImplBase() {
            @Override
            public void streamSessionBatches(StreamSessionRequest r, StreamObserver<SessionMessages> out) {
                sessions.stream(r.getId(), r.getAfterSeq(),
                        SubscriberStream.batches((ServerCallStreamObserver<SessionMessages>) out));
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
    }

    private void closeSessions() {
        channel.shutdownNow();
        server.shutdownNow();
        sessions.close();
    }

    @AfterEach
    void stop() {
        closeSessions();
        rig.close();
        engineExecutor.shutdownNow();
        dispatch.dispose();
    }

    private static OpenSessionRequest trace(String id, int pid) {
        return OpenSessionRequest.newBuilder().setId(id).setVm("vm-1").setTrace(TraceSpec.newBuilder().setPid(pid)
                .setMethod(TraceMethod.M5).setReadStrings(true)).build();
    }

    /** Reads a session's stream on a thread of its own into {@code got}. */
    private List<SessionMessage> subscribe(String id, long afterSeq) {
        List<SessionMessage> got = Collections.synchronizedList(new ArrayList<>());
        Iterator<SessionMessages> it = AgentGrpc.newBlockingStub(channel)
                .streamSessionBatches(StreamSessionRequest.newBuilder().setId(id).setAfterSeq(afterSeq).build());
        Thread.ofPlatform().daemon().start(() -> {
            try {
                it.forEachRemaining(batch -> got.addAll(batch.getMessagesList()));
            } catch (StatusRuntimeException closedByTheTest) {
                // the channel shut down after the test
            }
        });
        return got;
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waited for: " + what).isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    private static boolean has(List<SessionMessage> got, SessionMessage.BodyCase body) {
        synchronized (got) {
            return got.stream().anyMatch(m -> m.getBodyCase() == body);
        }
    }

    @Test
    void aTraceStreamsSyscallsWithWallClockTimesOverheadSamplesAndItsEnd() {
        SessionInfo info = sessions.open(trace("s1", 300));
        assertThat(info.getPid()).isEqualTo(300);
        assertThat(info.getProcessName()).isEqualTo("sh");
        assertThat(info.getMethod()).isEqualTo(TraceMethod.M5);
        List<SessionMessage> got = subscribe("s1", 0);
        Instant before = Instant.now();
        rig.syscall(400, 1); // busy: not traced
        rig.syscall(300, 0);
        await("the syscall", () -> has(got, SessionMessage.BodyCase.SYSCALL));
        SessionMessage syscall = got.stream().filter(SessionMessage::hasSyscall).findFirst().orElseThrow();
        assertThat(syscall.getSyscall().getPid()).isEqualTo(300);
        assertThat(syscall.getSyscall().getName()).isEqualTo("read");
        Instant at = Instant.ofEpochSecond(syscall.getSyscall().getTime().getSeconds(), syscall.getSyscall().getTime().getNanos());
        assertThat(Duration.between(before, at).abs()).isLessThan(Duration.ofSeconds(5));
        await("an overhead sample", () -> has(got, SessionMessage.BodyCase.OVERHEAD));

        sessions.close("s1");
        await("the end", () -> has(got, SessionMessage.BodyCase.ENDED));
        assertThat(got.getLast().getEnded().getReason()).isEqualTo(EndReason.CLOSED);
        assertThat(got).extracting(SessionMessage::getSeq).filteredOn(seq -> seq > 0).isSorted().doesNotHaveDuplicates();
    }

    @Test
    void openingIsIdempotentAndAnEndedSessionStartsAgainNumberingOn() {
        SessionInfo first = sessions.open(trace("s2", 300));
        assertThat(sessions.open(trace("s2", 300)).getPid()).isEqualTo(first.getPid());
        assertThatThrownBy(() -> sessions.open(trace("s2", 400))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("another spec");
        List<SessionMessage> got = subscribe("s2", 0);
        rig.exit(300);
        await("target exited", () -> has(got, SessionMessage.BodyCase.ENDED));
        assertThat(got.getLast().getEnded().getReason()).isEqualTo(EndReason.TARGET_EXITED);
        long lastSeq = got.getLast().getSeq();

        rig.add(300, "sh", 1);
        SessionInfo again = sessions.open(trace("s2", 300));
        assertThat(again.getEnded()).isFalse();
        List<SessionMessage> more = subscribe("s2", lastSeq);
        rig.syscall(300, 1);
        await("the new run's syscall", () -> has(more, SessionMessage.BodyCase.SYSCALL));
        assertThat(more.getFirst().getSeq()).isGreaterThan(lastSeq);
    }

    @Test
    void aSessionNobodySubscribesToEndsAsOrphaned() throws IOException {
        closeSessions();
        open(new AgentSessions.Limits(100, 100, Duration.ofMillis(300), Duration.ofSeconds(30)));
        sessions.open(trace("s3", 300));
        await("ended", () -> sessions.active() == 0);
        List<SessionMessage> got = subscribe("s3", 0);
        await("its end", () -> has(got, SessionMessage.BodyCase.ENDED));
        assertThat(got.getLast().getEnded().getReason()).isEqualTo(EndReason.ORPHANED);
        await("nothing armed", () -> rig.producer().mode() == 0);
    }

    @Test
    void aSessionClosedWhileItStartsEndsOnceStartedInsteadOfRunningOrphaned() throws Exception {
        traceStart = new CountDownLatch(1);
        CompletableFuture<SessionInfo> opened = CompletableFuture.supplyAsync(() -> sessions.open(trace("s4", 300)));
        assertThat(traceStarting.await(10, TimeUnit.SECONDS)).isTrue();

        // the control plane gave up waiting (its session's time ran out) and closes what it opened
        assertThat(sessions.close("s4").getId()).isEqualTo("s4");
        traceStart.countDown();
        assertThat(opened.get(10, TimeUnit.SECONDS).getPid()).isEqualTo(300);

        await("ended", () -> sessions.active() == 0);
        List<SessionMessage> got = subscribe("s4", 0);
        await("its end", () -> has(got, SessionMessage.BodyCase.ENDED));
        assertThat(got.getLast().getEnded().getReason()).isEqualTo(EndReason.CLOSED);
        await("nothing armed", () -> rig.producer().mode() == 0);
        assertThatThrownBy(() -> sessions.close("s5")).isInstanceOf(NoSuchSessionException.class);
    }

    @Test
    void processListsRetryWhatGuestMemoryRefusesAndEndWhenTheVmGoes() {
        sessions.open(OpenSessionRequest.newBuilder().setId("p1").setVm("vm-1").setProcessLists(
                ProcessListSpec.newBuilder().setMode(AcquisitionMode.LIVE).setInterval(Codec.duration(Duration.ofMillis(100)))).build());
        List<SessionMessage> got = subscribe("p1", 0);
        await("the end", () -> has(got, SessionMessage.BodyCase.ENDED));
        assertThat(got).extracting(SessionMessage::getBodyCase).containsExactly(SessionMessage.BodyCase.NOTICE,
                SessionMessage.BodyCase.PROCESSES, SessionMessage.BodyCase.PROCESSES, SessionMessage.BodyCase.ENDED);
        assertThat(got.getFirst().getNotice().getMessage()).contains("retrying", "task list changed");
        assertThat(got.getLast().getEnded().getReason()).isEqualTo(EndReason.VM_GONE);
    }

    @Test
    void unknownSessionsAndBadSpecsAreRefused() {
        assertThatThrownBy(() -> sessions.close("nope")).isInstanceOf(NoSuchSessionException.class);
        assertThatThrownBy(() -> sessions.open(OpenSessionRequest.newBuilder().setId("x").setVm("vm-1").build()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> sessions.open(trace("x", 999))).hasMessageContaining("no process with pid 999");
    }
}
