package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.SyntheticGuest;
import dev.periscope.vmi.linux.Visibility;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The ring thread's view of the guest's processes, read by the real task walker from a synthetic guest. */
class ProcessTrackerTest {

    private final SyntheticGuest guest = new SyntheticGuest(8 << 20);
    private final long init = guest.task(1, "init", 0, false, "/sbin/init\0");
    private final long sh = guest.task(300, "sh", 0, false, "sh\0");
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final AtomicInteger walks = new AtomicInteger();
    private final Supplier<List<GuestProcess>> walk = () -> {
        walks.incrementAndGet();
        return guest.processes();
    };
    private final ProcessTracker tracker = new ProcessTracker(walk, now::get);

    ProcessTrackerTest() {
        guest.link(init);
        guest.setParent(sh, init);
        guest.link(sh);
        guest.link(guest.task(2, "kthreadd", 0, true, null));
    }

    @Test
    void indexesProcessesByAddressSpaceIgnoringPcidBits() {
        tracker.refresh(true);
        assertThat(tracker.byDtb(guest.dtbOf(sh) | 0x7)).extracting(GuestProcess::pid).isEqualTo(300);
        assertThat(tracker.byPid(2).kernelThread()).isTrue();
        assertThat(tracker.walks()).isEqualTo(1);
    }

    @Test
    void resolvesByPidOrLowestPidOfAName() {
        guest.link(guest.task(200, "sh", 0, false, "sh\0"));
        tracker.refresh(true);
        assertThat(tracker.resolve(TraceRequest.process("sh"), "vm").pid()).isEqualTo(200);
        assertThat(tracker.resolve(TraceRequest.pid(300), "vm").pid()).isEqualTo(300);
        assertThatThrownBy(() -> tracker.resolve(TraceRequest.pid(999), "vm"))
                .isInstanceOf(NoSuchElementException.class).hasMessageContaining("no process with pid 999");
        assertThatThrownBy(() -> tracker.resolve(TraceRequest.pid(2), "vm"))
                .isInstanceOf(NoSuchElementException.class).hasMessageContaining("kernel thread");
        assertThatThrownBy(() -> tracker.resolve(TraceRequest.process("nginx"), "vm"))
                .isInstanceOf(NoSuchElementException.class).hasMessageContaining("no process named nginx");
    }

    /** A name is matched against what /proc shows and against the raw comm, which differ where /proc says more. */
    @Test
    void resolvesANameByWhatProcShowsOrByItsComm() {
        GuestProcess daemon = new GuestProcess(700, 1, "storage-daemon-main", "storage-daemo", List.of("/sbin/sd"),
                0, 0, "S", 1, 0x5000, false, List.of(700), 0xffff888000007000L, Visibility.LISTED, List.of());
        ProcessTracker byName = new ProcessTracker(() -> List.of(daemon), now::get);
        byName.refresh(true);
        assertThat(byName.resolve(TraceRequest.process("storage-daemon-main"), "vm").pid()).isEqualTo(700);
        assertThat(byName.resolve(TraceRequest.process("storage-daemo"), "vm").pid()).isEqualTo(700);
        assertThatThrownBy(() -> byName.resolve(TraceRequest.process("storage"), "vm"))
                .isInstanceOf(NoSuchElementException.class);
    }

    @Test
    void anUnknownAddressSpaceCostsOneWalkUntilForgotten() {
        tracker.refresh(true);
        long stranger = 0x7777_0000L;
        assertThat(tracker.refreshFor(stranger)).isTrue();
        assertThat(tracker.refreshFor(stranger)).as("negative cache").isFalse();
        assertThat(tracker.refreshFor(guest.dtbOf(sh))).as("known: no walk").isFalse();
        tracker.forgetUnknown();
        assertThat(tracker.refreshFor(stranger)).isTrue();
        assertThat(walks).hasValue(3);
    }

    @Test
    void walksOnDemandStayWithinTheBudgetPerSecond() {
        for (int i = 0; i < ProcessTracker.MAX_WALKS_PER_SECOND; i++) {
            assertThat(tracker.refreshFor(0x1000_0000L + 0x2000L * i)).isTrue();
        }
        long over = 0x9000_0000L;
        assertThat(tracker.refreshFor(over)).as("over budget").isFalse();
        assertThat(tracker.refresh(true)).as("a forced walk always runs").isTrue();
        now.addAndGet(1_000_000_001L);
        assertThat(tracker.refreshFor(over)).as("a new second, and it was not cached as unknown").isTrue();
    }

    /**
     * The guest runs ahead of the ring thread: a child can exit (or exec) and leave the process list while its last
     * records still wait in the ring. The session takes them, as the child's, until the ring has been read empty.
     */
    @Test
    void aSessionTakesQueuedRecordsOfAProcessThatLeftUntilTheRingIsDrained() {
        long child = guest.task(310, "sleep", 0, false, "sleep\01\0");
        guest.setParent(child, sh);
        guest.link(child);
        long childDtb = guest.dtbOf(child) & ProcessTracker.DTB_MASK;
        TraceSession session = new TraceSession(null, TraceRequest.pid(300).withChildren(true));
        tracker.refresh(true);
        session.started(tracker.byPid(300), TraceSession.Baseline.ZERO);
        assertThat(session.follow(tracker, false)).isTrue();
        assertThat(session.traces(childDtb)).isTrue();
        assertThat(session.leaver(childDtb)).isNull();

        guest.exit(child);
        tracker.refresh(true);
        assertThat(session.follow(tracker, true)).isTrue();
        assertThat(session.tracedPids()).doesNotContain(310);
        assertThat(session.traces(childDtb)).as("its queued records").isTrue();
        assertThat(session.leaver(childDtb)).extracting(GuestProcess::pid).isEqualTo(310);

        session.ringDrained();
        assertThat(session.traces(childDtb)).isFalse();
        assertThat(session.traces(guest.dtbOf(sh) & ProcessTracker.DTB_MASK)).isTrue();
    }

    @Test
    void aFamilyIsTheTargetAndItsDescendantsWithTheirAddressSpaces() {
        long child = guest.task(310, "make", 0, false, "make\0");
        guest.setParent(child, sh);
        guest.link(child);
        long grandchild = guest.task(320, "cc", 0, false, "cc\0");
        guest.setParent(grandchild, child);
        guest.link(grandchild);
        tracker.refresh(true);

        ProcessTracker.Family alone = tracker.family(300, false);
        assertThat(alone.pids()).containsExactly(300);
        assertThat(alone.dtbs()).containsExactly(guest.dtbOf(sh));
        ProcessTracker.Family all = tracker.family(300, true);
        assertThat(all.pids()).containsExactlyInAnyOrder(300, 310, 320);
        assertThat(all.dtbs()).containsExactlyInAnyOrder(guest.dtbOf(sh), guest.dtbOf(child), guest.dtbOf(grandchild));
        assertThat(tracker.family(999, true)).isEqualTo(ProcessTracker.Family.NONE);
    }
}
