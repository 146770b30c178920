package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.linux.SyntheticGuest;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingTestProducer;
import dev.periscope.vmi.ring.RingToken;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;

/**
 * The trace machinery of one VM without a VM: the real event ring (a file), the test producer standing in for the
 * QEMU plugin on vCPU 0, and a synthetic guest whose processes the real task walker reads. Covers attribution, the
 * M3/M4 arming on CR3 switches, child following (by CR3 switch and by the fork breakpoint), exec, exit, several
 * sessions on one ring and the ring's drop markers.
 */
class TraceHubTest {

    static final long ENTRY = 0xffffffff81e00000L;
    static final long FORK = 0xffffffff810c5a00L;
    static final int READ = 0;
    static final int WRITE = 1;
    static final int MODE_CR3 = 0x01, MODE_CR3_FILTER = 0x02, MODE_SYSCALL = 0x08, MODE_BREAKPOINT = 0x40;

    @TempDir
    Path dir;

    private final SyntheticGuest guest = new SyntheticGuest(8 << 20);
    private final long init = guest.task(1, "init", 0, false, "/sbin/init\0");
    private final long sh = guest.task(300, "sh", 0, false, "sh\0");
    private final long busy = guest.task(400, "busy", 0, false, "busy\0");
    private EventRing ring;
    private RingTestProducer vcpu0;
    private TraceHub hub;

    @BeforeEach
    void setUp() throws IOException {
        guest.link(init);
        guest.setParent(sh, init);
        guest.link(sh);
        guest.setParent(busy, init);
        guest.link(busy);
        guest.link(guest.task(2, "kthreadd", 0, true, null));
        ring = EventRing.create(dir.resolve("vm.ring"), 1, 1024, RingToken.random());
        vcpu0 = new RingTestProducer(ring.path(), 0);
        hub = new TraceHub("vm", ring, guest::processes, new SyscallDecoder(SyscallTable.builtin(), guest.memory),
                ENTRY, FORK, 1);
    }

    @AfterEach
    void tearDown() {
        hub.shutdown(TraceEnd.of(TraceEnd.Reason.ENGINE_CLOSED));
        vcpu0.close();
        ring.close();
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
            assertThat(vcpu0.dtbs()).containsExactly(guest.dtbOf(sh));
            assertThat(vcpu0.mode() & (MODE_CR3_FILTER | MODE_SYSCALL)).isEqualTo(MODE_CR3_FILTER | MODE_SYSCALL);
            assertThat(vcpu0.breakpointAddress(0)).isEqualTo(ENTRY);

            syscall(guest.dtbOf(busy), WRITE, false);
            syscall(guest.dtbOf(sh) | 0x5, READ, false); // a PCID in CR3 does not matter
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

            switchTo(guest.dtbOf(busy), guest.dtbOf(sh), true);
            await("armed", () -> (vcpu0.mode() & MODE_SYSCALL) != 0);
            syscall(guest.dtbOf(sh), WRITE, true);
            switchTo(guest.dtbOf(sh), guest.dtbOf(busy), true);
            await("disarmed", () -> (vcpu0.mode() & MODE_SYSCALL) == 0);
            assertThat(events.syscalls()).extracting(TraceEvent.Syscall::name).containsExactly("write");
            assertThat(s.overhead().vcpuWait()).isPositive();
        }
    }

    @Test
    void m4FiltersInTheHypervisorAndArmsTheSameWay() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withMethod(TraceMethod.M4))) {
            assertThat(vcpu0.mode() & (MODE_CR3 | MODE_CR3_FILTER)).isEqualTo(MODE_CR3 | MODE_CR3_FILTER);
            assertThat(vcpu0.dtbs()).containsExactly(guest.dtbOf(sh));
            switchTo(guest.dtbOf(init), guest.dtbOf(sh), true);
            await("armed", () -> (vcpu0.mode() & MODE_SYSCALL) != 0);
            switchTo(guest.dtbOf(sh), guest.dtbOf(init), true);
            await("disarmed", () -> (vcpu0.mode() & MODE_SYSCALL) == 0);
        }
    }

    @Test
    void aChildFirstSeenAtACr3SwitchIsFollowedFromThen() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withChildren(true))) {
            Events events = new Events(s);
            long child = guest.task(310, "make", 0, false, "make\0-j2\0");
            guest.setParent(child, sh);
            guest.link(child);
            switchTo(guest.dtbOf(sh), guest.dtbOf(child), false);
            await("child in the filter", () -> s.tracedPids().contains(310));
            assertThat(vcpu0.dtbs()).containsExactlyInAnyOrder(guest.dtbOf(sh), guest.dtbOf(child));
            assertThat(events.ofType(TraceEvent.ProcessChange.class)).singleElement().satisfies(e -> {
                TraceEvent.ProcessChange change = (TraceEvent.ProcessChange) e;
                assertThat(change.change()).isEqualTo(TraceEvent.Change.CHILD);
                assertThat(change.pid()).isEqualTo(310);
                assertThat(change.process()).isEqualTo("make");
                assertThat(change.detail()).isEqualTo("child of 300");
            });
            syscall(guest.dtbOf(child), READ, false);
            await("the child's read", () -> events.syscalls().size() == 1);
            assertThat(events.syscalls().getFirst().pid()).isEqualTo(310);
        }
    }

    @Test
    void underM4TheForkBreakpointPutsAChildInTheFilterBeforeItRuns() {
        try (TraceSession s = hub.open(TraceRequest.pid(300).withMethod(TraceMethod.M4).withChildren(true))) {
            assertThat(vcpu0.mode() & MODE_BREAKPOINT).isEqualTo(MODE_BREAKPOINT);
            assertThat(vcpu0.breakpointAddress(1)).isEqualTo(FORK);
            long child = guest.task(311, "cc", 0, false, "cc\0");
            guest.setParent(child, sh);
            guest.link(child);
            long seq = vcpu0.breakpoint(FORK, guest.dtbOf(sh), true);
            assertThat(vcpu0.awaitResponse(seq, 5_000_000_000L)).isTrue();
            assertThat(s.tracedPids()).as("known before the child's first instruction").contains(311);
            assertThat(vcpu0.dtbs()).contains(guest.dtbOf(child));
        }
    }

    @Test
    void anExecIsReportedAndTheNewAddressSpaceTraced() {
        try (TraceSession s = hub.open(TraceRequest.pid(300))) {
            Events events = new Events(s);
            long fresh = guest.exec(sh);
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
        guest.unlink(sh);
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
            assertThat(vcpu0.dtbs()).containsExactlyInAnyOrder(guest.dtbOf(sh), guest.dtbOf(busy));
            syscall(guest.dtbOf(sh), READ, false);
            syscall(guest.dtbOf(busy), WRITE, false);
            await("both", () -> shEvents.syscalls().size() == 1 && busyEvents.syscalls().size() == 1);
            assertThat(shEvents.syscalls().getFirst().name()).isEqualTo("read");
            assertThat(busyEvents.syscalls().getFirst().name()).isEqualTo("write");
            onSh.close();
            await("only busy is traced", () -> vcpu0.dtbs().length == 1 && vcpu0.dtbs()[0] == guest.dtbOf(busy));
            await("closed", onSh::ended);
            assertThat(onSh.end()).hasValue(TraceEnd.of(TraceEnd.Reason.CLOSED));
        }
    }

    @Test
    void aFullRingIsReportedToEverySessionAsDroppedRecords() {
        // no session yet, so no consumer: the lane (1024 records) fills with a stranger's syscalls and 6 are lost
        for (int i = 0; i < 1030; i++) {
            vcpu0.syscall(guest.dtbOf(busy), WRITE, new long[6], false);
        }
        try (TraceSession s = hub.open(TraceRequest.pid(300));
             TraceSession other = hub.open(TraceRequest.process("busy"))) {
            Events events = new Events(s);
            Events otherEvents = new Events(other);
            await("drained", () -> ring.backlog() == 0);
            syscall(guest.dtbOf(sh), READ, false); // the producer writes its pending drop marker first
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
        TraceHub noEvents = new TraceHub("plain", null, guest::processes,
                new SyscallDecoder(SyscallTable.builtin(), guest.memory), ENTRY, FORK, 1);
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
