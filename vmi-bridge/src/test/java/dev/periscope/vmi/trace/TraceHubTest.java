package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.ring.RingTestProducer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;

/**
 * The trace machinery of one VM without a VM ({@link SyntheticTraceRig}): the real event ring (a file), the test producer standing in for the
 * QEMU plugin on vCPU 0, and a synthetic guest whose processes the real task walker reads. Covers attribution, the
 * M3/M4 arming on CR3 switches, child following (by CR3 switch and by the fork breakpoint), exec, exit, several
 * sessions on one ring and the ring's drop markers.
 */
class TraceHubTest {

    static final int READ = 0;
    static final int WRITE = 1;
    static final int MODE_CR3 = 0x01, MODE_CR3_FILTER = 0x02, MODE_SYSCALL = 0x08, MODE_BREAKPOINT = 0x40;

    private SyntheticTraceRig rig;
    private RingTestProducer vcpu0;
    private TraceHub hub;

    @BeforeEach
    void setUp() {
        rig = new SyntheticTraceRig("vm");
        vcpu0 = rig.producer();
        hub = rig.hub();
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** Collects a session's events. */
    private static final class Events {
        final List<TraceEvent> all = Collections.synchronizedList(new ArrayList<>());
        final Disposable subscription;

        Events(TraceSession s) {
            subscription = s.events().subscribe(all::add);
        }

        List<TraceEvent.Syscall> syscalls() {
            synchronized (all) {
                return all.stream().filter(TraceEvent.Syscall.class::isInstance).map(TraceEvent.Syscall.class::cast)
                        .toList();
            }
        }

        List<TraceEvent> ofType(Class<? extends TraceEvent> type) {
            synchronized (all) {
                return all.stream().filter(type::isInstance).toList();
            }
        }
    }

    private long syscall(long cr3, int nr, boolean sync) {
        long seq = vcpu0.syscall(cr3, nr, new long[] {1, 0, 0, 0, 0, 0}, sync);
        if (sync) {
            assertThat(vcpu0.awaitResponse(seq, 5_000_000_000L)).as("answered").isTrue();
        }
        return seq;
    }

    private void switchTo(long from, long to, boolean sync) {
        long seq = vcpu0.cr3Write(from, to, sync);
        if (sync) {
            assertThat(vcpu0.awaitResponse(seq, 5_000_000_000L)).as("answered").isTrue();
        }
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waited for: " + what).isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    @Test
    void m5DeliversOnlyTheTargetsSyscallsAttributedAndNamed() {
        try (TraceSession s = hub.open(TraceRequest.pid(300))) {
            Events events = new Events(s);
            assertThat(s.processName()).isEqualTo("sh");
            assertThat(vcpu0.dtbs()).containsExactly(rig.dtb(300));
            assertThat(vcpu0.mode() & (MODE_CR3_FILTER | MODE_SYSCALL)).isEqualTo(MODE_CR3_FILTER | MODE_SYSCALL);
            assertThat(vcpu0.breakpointAddress(0)).isEqualTo(SyntheticTraceRig.SYSCALL_ENTRY);

            syscall(rig.dtb(400), WRITE, false);
            syscall(rig.dtb(300) | 0x5, READ, false); // a PCID in CR3 does not matter
            await("the read", () -> events.syscalls().size() == 1);
            TraceEvent.Syscall read = events.syscalls().getFirst();
            assertThat(read.pid()).isEqualTo(300);
            assertThat(read.process()).isEqualTo("sh");
            assertThat(read.name()).isEqualTo("read");
            assertThat(read.args()).extracting(TraceEvent.Arg::name).startsWith("fd");
            await("overhead counted", () -> s.overhead().syscallsMatched() == 1);
            assertThat(s.overhead().syscallsDelivered()).isEqualTo(2);
        }
        await("the last session closed: nothing trapped", () -> vcpu0.mode() == 0 && vcpu0.dtbs().length == 0);
    }

    @Test
    void m3ArmsSyscallsWhileTheTargetRunsAndDisarmsWhenItLeaves() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withMethod(TraceMethod.M3))) {
            Events events = new Events(s);
            assertThat(vcpu0.mode() & MODE_CR3).isEqualTo(MODE_CR3);
            assertThat(vcpu0.mode() & (MODE_SYSCALL | MODE_CR3_FILTER)).as("target not running, all CR3").isZero();

            switchTo(rig.dtb(400), rig.dtb(300), true);
            await("armed", () -> (vcpu0.mode() & MODE_SYSCALL) != 0);
            syscall(rig.dtb(300), WRITE, true);
            switchTo(rig.dtb(300), rig.dtb(400), true);
            await("disarmed", () -> (vcpu0.mode() & MODE_SYSCALL) == 0);
            assertThat(events.syscalls()).extracting(TraceEvent.Syscall::name).containsExactly("write");
            assertThat(s.overhead().vcpuWait()).isPositive();
        }
    }

    @Test
    void m4FiltersInTheHypervisorAndArmsTheSameWay() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withMethod(TraceMethod.M4))) {
            assertThat(vcpu0.mode() & (MODE_CR3 | MODE_CR3_FILTER)).isEqualTo(MODE_CR3 | MODE_CR3_FILTER);
            assertThat(vcpu0.dtbs()).containsExactly(rig.dtb(300));
            switchTo(rig.dtb(1), rig.dtb(300), true);
            await("armed", () -> (vcpu0.mode() & MODE_SYSCALL) != 0);
            switchTo(rig.dtb(300), rig.dtb(1), true);
            await("disarmed", () -> (vcpu0.mode() & MODE_SYSCALL) == 0);
        }
    }

    @Test
    void aChildFirstSeenAtACr3SwitchIsFollowedFromThen() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withChildren(true))) {
            Events events = new Events(s);
            rig.add(310, "make", 300, "make\0-j2\0");
            switchTo(rig.dtb(300), rig.dtb(310), false);
            // the session takes the child first, then the ring's control is written: wait for both
            await("child in the filter", () -> s.tracedPids().contains(310) && vcpu0.dtbs().length == 2);
            assertThat(vcpu0.dtbs()).containsExactlyInAnyOrder(rig.dtb(300), rig.dtb(310));
            assertThat(events.ofType(TraceEvent.ProcessChange.class)).singleElement().satisfies(e -> {
                TraceEvent.ProcessChange change = (TraceEvent.ProcessChange) e;
                assertThat(change.change()).isEqualTo(TraceEvent.Change.CHILD);
                assertThat(change.pid()).isEqualTo(310);
                assertThat(change.process()).isEqualTo("make");
                assertThat(change.detail()).isEqualTo("child of 300");
            });
            syscall(rig.dtb(310), READ, false);
            await("the child's read", () -> events.syscalls().size() == 1);
            assertThat(events.syscalls().getFirst().pid()).isEqualTo(310);
        }
    }

    @Test
    void underM4TheForkBreakpointPutsAChildInTheFilterBeforeItRuns() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withMethod(TraceMethod.M4).withChildren(true))) {
            assertThat(vcpu0.mode() & MODE_BREAKPOINT).isEqualTo(MODE_BREAKPOINT);
            assertThat(vcpu0.breakpointAddress(1)).isEqualTo(SyntheticTraceRig.SYSCALL_EXIT);
            assertThat(vcpu0.breakpointAddress(2)).isEqualTo(SyntheticTraceRig.FORK_HOOK);
            rig.add(311, "cc", 300);
            long seq = vcpu0.breakpoint(SyntheticTraceRig.FORK_HOOK, rig.dtb(300), true);
            assertThat(vcpu0.awaitResponse(seq, 5_000_000_000L)).isTrue();
            assertThat(s.tracedPids()).as("known before the child's first instruction").contains(311);
            assertThat(vcpu0.dtbs()).contains(rig.dtb(311));
        }
    }

    @Test
    void anExecIsReportedAndTheNewAddressSpaceTraced() {
        try (TraceSession s = hub.open(TraceRequest.pid(300))) {
            Events events = new Events(s);
            long fresh = rig.exec(300);
            syscall(fresh, READ, false); // an unknown address space: one walk finds who runs it
            await("the exec", () -> !events.ofType(TraceEvent.ProcessChange.class).isEmpty());
            TraceEvent.ProcessChange exec = (TraceEvent.ProcessChange) events.ofType(TraceEvent.ProcessChange.class)
                    .getFirst();
            assertThat(exec.change()).isEqualTo(TraceEvent.Change.EXEC);
            assertThat(exec.pid()).isEqualTo(300);
            await("filter follows", () -> vcpu0.dtbs().length == 1 && vcpu0.dtbs()[0] == fresh);
        }
    }

    @Test
    void theSessionEndsWhenItsTargetExits() {
        TraceSession s = hub.open(TraceRequest.pid(300));
        Events events = new Events(s);
        rig.exit(300);
        await("ended", s::ended); // the periodic walk (1 s) no longer finds it
        assertThat(s.end()).hasValue(TraceEnd.of(TraceEnd.Reason.TARGET_EXITED));
        await("last event", () -> events.all.size() >= 2);
        assertThat(events.all.getFirst()).isInstanceOf(TraceEvent.ProcessChange.class);
        assertThat(events.all.getLast()).isInstanceOf(TraceEvent.Ended.class);
        await("ring off", () -> vcpu0.mode() == 0);
    }

    @Test
    void sessionsShareTheRingAndEachGetsOnlyItsOwnProcesses() {
        try (TraceSession onSh = hub.open(TraceRequest.pid(300));
             TraceSession onBusy = hub.open(TraceRequest.process("busy").withMethod(TraceMethod.M5))) {
            Events shEvents = new Events(onSh);
            Events busyEvents = new Events(onBusy);
            assertThat(vcpu0.dtbs()).containsExactlyInAnyOrder(rig.dtb(300), rig.dtb(400));
            syscall(rig.dtb(300), READ, false);
            syscall(rig.dtb(400), WRITE, false);
            await("both", () -> shEvents.syscalls().size() == 1 && busyEvents.syscalls().size() == 1);
            assertThat(shEvents.syscalls().getFirst().name()).isEqualTo("read");
            assertThat(busyEvents.syscalls().getFirst().name()).isEqualTo("write");
            onSh.close();
            await("only busy is traced", () -> vcpu0.dtbs().length == 1 && vcpu0.dtbs()[0] == rig.dtb(400));
            await("closed", onSh::ended);
            assertThat(onSh.end()).hasValue(TraceEnd.of(TraceEnd.Reason.CLOSED));
        }
    }

    @Test
    void aFullRingIsReportedToEverySessionAsDroppedRecords() {
        // no session yet, so no consumer: the lane (1024 records) fills with a stranger's syscalls and 6 are lost
        for (int i = 0; i < 1030; i++) {
            vcpu0.syscall(rig.dtb(400), WRITE, new long[6], false);
        }
        try (TraceSession s = hub.open(TraceRequest.pid(300));
             TraceSession other = hub.open(TraceRequest.process("busy"))) {
            Events events = new Events(s);
            Events otherEvents = new Events(other);
            await("drained", () -> rig.ring().backlog() == 0);
            syscall(rig.dtb(300), READ, false); // the producer writes its pending drop marker first
            await("the read", () -> events.syscalls().size() == 1);
            TraceEvent.Dropped lost = new TraceEvent.Dropped(0, 6, TraceEvent.DropSite.HYPERVISOR_RING);
            assertThat(events.ofType(TraceEvent.Dropped.class)).singleElement()
                    .usingRecursiveComparison().ignoringFields("timestampNs").isEqualTo(lost);
            await("the other session's marker", () -> !otherEvents.ofType(TraceEvent.Dropped.class).isEmpty());
        }
    }

    @Test
    void badTargetsAndMissingPlatformsAreRefusedClearly() {
        assertThatThrownBy(() -> hub.open(TraceRequest.pid(999))).isInstanceOf(NoSuchElementException.class);
        assertThatThrownBy(() -> hub.open(TraceRequest.pid(2))).hasMessageContaining("kernel thread");
        TraceHub noEvents = new TraceHub("plain", null, rig.guest()::processes,
                new SyscallDecoder(SyscallTable.builtin(), rig.guest().memory, false), SyntheticTraceRig.SYSCALL_ENTRY,
                0, SyntheticTraceRig.FORK_HOOK, 1);
        assertThatThrownBy(() -> noEvents.open(TraceRequest.pid(300)))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("only M1");
        try (TraceSession m1 = noEvents.open(TraceRequest.pid(300).withMethod(TraceMethod.M1))) {
            assertThat(m1.pid()).isEqualTo(300);
        }
        noEvents.shutdown(TraceEnd.of(TraceEnd.Reason.ENGINE_CLOSED));
    }

    @Test
    void shutdownEndsEverySessionWithItsReasonAndRefusesNewOnes() {
        TraceSession s = hub.open(TraceRequest.pid(300));
        TraceEnd gone = new TraceEnd(TraceEnd.Reason.VM_GONE, "VM detached (stopped or restarted)");
        hub.shutdown(gone);
        assertThat(s.end()).hasValue(gone);
        assertThatThrownBy(() -> hub.open(TraceRequest.pid(300))).isInstanceOf(SessionClosedException.class)
                .hasMessageContaining("vm gone");
    }
}
