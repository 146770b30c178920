package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.ring.RingTestProducer;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;

/**
 * Syscall results through the real trace machinery ({@link SyntheticTraceRig}: the real ring, the test producer
 * writing entry and return records as the QEMU plugin does): a call is emitted once, at its return, with its result;
 * calls still out when a session ends or their process exits are emitted unfinished; calls that never return are
 * emitted at once; returns nobody waits for are counted, not emitted.
 */
class SyscallResultsTest {

    static final int READ = 0, WRITE = 1, OPENAT = 257, EXECVE = 59, EXIT_GROUP = 231;
    static final Duration WAIT = Duration.ofSeconds(10);

    private SyntheticTraceRig rig;

    @BeforeEach
    void setUp() {
        rig = new SyntheticTraceRig("vm");
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    private static Predicate<TraceEvent> syscall(String name, TraceEvent.Status status) {
        return e -> e instanceof TraceEvent.Syscall s && s.name().equals(name) && s.result().status() == status;
    }

    @Test
    void aCallIsEmittedAtItsReturnWithItsResultAndDuration() {
        try (TraceSession s = rig.open(TraceRequest.pid(300))) {
            assertThat(rig.producer().mode() & 0x200).as("SYSCALL_EXIT mode").isNotZero();
            assertThat(rig.producer().breakpointAddress(1)).isEqualTo(SyntheticTraceRig.SYSCALL_EXIT);
            StepVerifier.create(s.events())
                    .then(() -> {
                        rig.enter(300, OPENAT, -100, 0x7ffd0000L, 0, 0);
                        rig.call(400, WRITE, 5, 1, 0x1000, 5); // another process: not traced
                        rig.returns(300, OPENAT, -2);
                        rig.call(300, READ, 30, 3, 0x7ffd1000L, 4096);
                    })
                    .assertNext(e -> {
                        TraceEvent.Syscall o = (TraceEvent.Syscall) e;
                        assertThat(o.call()).isEqualTo("openat(AT_FDCWD, 0x7ffd0000, O_RDONLY)");
                        assertThat(o.result().status()).isEqualTo(TraceEvent.Status.RETURNED);
                        assertThat(o.result().errno()).isEqualTo("ENOENT");
                        assertThat(o.result().durationNs()).isNotNegative();
                        assertThat(o.toString()).matches("300 openat\\(.*\\) = -1 ENOENT \\(No such file or directory\\) <\\d+\\.\\d{6}>");
                    })
                    .assertNext(e -> assertThat(((TraceEvent.Syscall) e).result().value()).isEqualTo(30))
                    .then(s::close)
                    .expectNextMatches(TraceEvent.Ended.class::isInstance)
                    .expectComplete()
                    .verify(WAIT);
            OverheadSnapshot o = s.overhead();
            assertThat(o.exitsDelivered()).isEqualTo(3);
            assertThat(o.exitsPaired()).isEqualTo(2);
            assertThat(o.exitsUnmatched()).as("pid 400 is no traced address space").isZero();
        }
    }

    @Test
    void callsStillRunningWhenTheSessionEndsAreEmittedUnfinished() {
        TraceSession s = rig.open(TraceRequest.pid(300));
        StepVerifier.create(s.events())
                .then(() -> rig.enter(300, READ, 0, 0x7ffd1000L, 1))
                .then(() -> await(() -> s.overhead().syscallsDelivered() == 1)) // the entry is in before the close
                .then(s::close)
                .expectNextMatches(syscall("read", TraceEvent.Status.UNFINISHED))
                .expectNextMatches(TraceEvent.Ended.class::isInstance)
                .expectComplete()
                .verify(WAIT);
        assertThat(s.overhead().exitsLost()).isZero();
    }

    @Test
    void callsThatNeverReturnAreEmittedAtOnce() {
        try (TraceSession s = rig.open(TraceRequest.pid(300))) {
            StepVerifier.create(s.events())
                    .then(() -> rig.enter(300, EXIT_GROUP, 0))
                    .assertNext(e -> assertThat(e.toString()).isEqualTo("300 exit_group(0) = ?"))
                    .thenCancel()
                    .verify(WAIT);
        }
    }

    @Test
    void aReturnPairsAcrossExec() {
        try (TraceSession s = rig.open(TraceRequest.pid(300))) {
            StepVerifier.create(s.events())
                    .then(() -> {
                        rig.enter(300, EXECVE, 0x7ffd0000L, 0x7ffd0100L, 0x7ffd0200L);
                        rig.exec(300); // the call returns in the new address space
                        rig.returns(300, EXECVE, 0);
                    })
                    .thenConsumeWhile(e -> e instanceof TraceEvent.ProcessChange) // the EXEC, if seen first
                    .assertNext(e -> assertThat(e).matches(syscall("execve", TraceEvent.Status.RETURNED)))
                    .thenCancel()
                    .verify(WAIT);
        }
    }

    @Test
    void aLostReturnLeavesTheCallUnfinishedAndAStrayReturnIsOnlyCounted() {
        try (TraceSession s = rig.open(TraceRequest.pid(300))) {
            RingTestProducer p = rig.producer();
            StepVerifier.create(s.events())
                    .then(() -> {
                        rig.enter(300, READ, 0, 0x7ffd1000L, 1);
                        rig.call(300, WRITE, 1, 1, 0x7ffd1000L, 1); // the same thread again: read's return is lost
                        p.syscallExit(rig.dtb(300), 0xffffc90012345000L, READ, 0, false, -1, null); // nobody waits
                    })
                    .expectNextMatches(syscall("read", TraceEvent.Status.UNFINISHED))
                    .expectNextMatches(syscall("write", TraceEvent.Status.RETURNED))
                    .thenCancel()
                    .verify(WAIT);
            await(() -> s.overhead().exitsUnmatched() == 1);
            assertThat(s.overhead().exitsLost()).isEqualTo(1);
        }
    }

    @Test
    void callsOfAProcessThatExitsAreEmittedUnfinishedBeforeItsExit() {
        rig.add(500, "child", 300);
        try (TraceSession s = rig.open(TraceRequest.pid(300).withChildren(true))) {
            StepVerifier.create(s.events())
                    .then(() -> {
                        rig.enter(500, READ, 0, 0x7ffd1000L, 1);
                        rig.exit(500);
                    })
                    .expectNextMatches(syscall("read", TraceEvent.Status.UNFINISHED))
                    .expectNextMatches(e -> e instanceof TraceEvent.ProcessChange c && c.change() == TraceEvent.Change.EXIT
                            && c.pid() == 500)
                    .thenCancel()
                    .verify(WAIT);
        }
    }

    @Test
    void withoutReturnsFromThePlatformCallsAreEmittedAtEntryWithoutResult() {
        TraceHub entriesOnly = new TraceHub("entries-only", rig.ring(), rig.guest()::processes,
                new SyscallDecoder(SyscallTable.builtin(), rig.guest().memory, false), SyntheticTraceRig.SYSCALL_ENTRY,
                0, SyntheticTraceRig.FORK_HOOK, 1);
        try (TraceSession s = entriesOnly.open(TraceRequest.pid(300))) {
            assertThat(entriesOnly.tracesResults()).isFalse();
            assertThat(rig.producer().mode() & 0x200).isZero();
            StepVerifier.create(s.events())
                    .then(() -> rig.enter(300, READ, 0, 0x7ffd1000L, 1))
                    .assertNext(e -> {
                        assertThat(e).matches(syscall("read", TraceEvent.Status.NOT_TRACED));
                        assertThat(e.toString()).isEqualTo("300 read(0, 0x7ffd1000, 1)");
                    })
                    .thenCancel()
                    .verify(WAIT);
        } finally {
            entriesOnly.shutdown(TraceEnd.of(TraceEnd.Reason.ENGINE_CLOSED));
        }
    }

    private static void await(BooleanSupplier condition) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waited").isLessThan(deadline);
            Thread.onSpinWait();
        }
    }
}
