package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.ring.Breakpoint;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingMode;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What the ring traps for each method and for several sessions at once, and M3/M4's arming on CR3 switches. */
class RingPlanTest {

    static final long ENTRY = 0xffffffff81e00000L;
    static final long FORK = 0xffffffff810c5a00L;
    static final long SH = 0x12_4000L;
    static final long INIT = 0x45_6000L;
    static final long CHILD = 0x78_a000L;

    private final RingPlan plan = new RingPlan("vm", ENTRY, 0, FORK, 2);

    private static RingPlan.Need need(TraceMethod m, boolean children, Long... dtbs) {
        return new RingPlan.Need(m, true, children, Set.of(dtbs));
    }

    private static Set<RingMode> modes(RingMode... m) {
        return m.length == 0 ? Set.of() : EnumSet.of(m[0], m);
    }

    @Test
    void m1TrapsNothing() {
        assertThat(plan.plan(List.of(need(TraceMethod.M1, false, SH)))).isEmpty();
        assertThat(plan.applied()).isEqualTo(RingControl.off());
        assertThat(plan.tracedDtbs()).isEmpty();
    }

    @Test
    void m2TrapsEverySyscallSynchronously() {
        RingControl c = plan.plan(List.of(need(TraceMethod.M2, false, SH))).orElseThrow();
        assertThat(c.modes()).isEqualTo(modes(RingMode.SYSCALL, RingMode.SYSCALL_SYNC));
        assertThat(c.breakpoints()).containsExactly(Breakpoint.syscallEntry(ENTRY));
        assertThat(plan.synchronous()).isTrue();
    }

    @Test
    void m3TrapsEveryCr3WriteAndArmsSyscallsOnlyWhileTheTargetRuns() {
        RingControl c = plan.plan(List.of(need(TraceMethod.M3, false, SH))).orElseThrow();
        assertThat(c.modes()).isEqualTo(modes(RingMode.CR3, RingMode.CR3_SYNC, RingMode.SYSCALL_SYNC));
        assertThat(c.breakpoints()).containsExactly(Breakpoint.syscallEntry(ENTRY));
        assertThat(plan.allCr3Writes()).isTrue();

        plan.running(0, INIT);
        assertThat(plan.rearm()).isEmpty();
        plan.running(1, SH | 0x1); // PCID bits are ignored
        assertThat(plan.rearm()).hasValueSatisfying(armed -> {
            assertThat(armed.modes()).contains(RingMode.SYSCALL);
            assertThat(armed.breakpoints()).isEqualTo(c.breakpoints()); // the table stays: no flush
        });
        plan.running(0, SH);
        assertThat(plan.rearm()).as("still armed: no write").isEmpty();
        plan.running(1, INIT);
        assertThat(plan.rearm()).as("vCPU 0 still runs the target").isEmpty();
        plan.running(0, INIT);
        assertThat(plan.rearm()).hasValueSatisfying(disarmed ->
                assertThat(disarmed.modes()).doesNotContain(RingMode.SYSCALL));
    }

    @Test
    void m4FiltersCr3WritesInTheHypervisorAndFollowsForksWithABreakpoint() {
        RingControl c = plan.plan(List.of(need(TraceMethod.M4, true, SH))).orElseThrow();
        assertThat(c.modes()).isEqualTo(modes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.CR3_SYNC,
                RingMode.SYSCALL_SYNC, RingMode.BREAKPOINT, RingMode.BREAKPOINT_SYNC));
        assertThat(c.dtbs()).containsExactly(SH);
        assertThat(c.breakpoints()).containsExactly(Breakpoint.syscallEntry(ENTRY),
                new Breakpoint(FORK, Breakpoint.Kind.PLAIN));
        assertThat(plan.allCr3Writes()).isFalse();
        plan.running(0, SH);
        assertThat(plan.rearm()).hasValueSatisfying(armed -> assertThat(armed.modes()).contains(RingMode.SYSCALL));
    }

    @Test
    void withAnExitHookReturnsAreTrappedAndStayOnWhileM3AndM4ArmAndDisarmEntries() {
        long exit = 0xffffffff81a48860L;
        RingPlan withExits = new RingPlan("vm", ENTRY, exit, FORK, 2);
        RingControl m5 = withExits.plan(List.of(need(TraceMethod.M5, false, SH))).orElseThrow();
        assertThat(m5.modes()).contains(RingMode.SYSCALL_EXIT).doesNotContain(RingMode.SYSCALL_SYNC);
        assertThat(m5.breakpoints()).containsExactly(Breakpoint.syscallEntry(ENTRY), Breakpoint.syscallExit(exit));

        RingControl m4 = withExits.plan(List.of(need(TraceMethod.M4, false, SH))).orElseThrow();
        assertThat(m4.modes()).contains(RingMode.SYSCALL_EXIT, RingMode.SYSCALL_SYNC).doesNotContain(RingMode.SYSCALL);
        withExits.running(0, SH);
        assertThat(withExits.rearm()).hasValueSatisfying(armed ->
                assertThat(armed.modes()).contains(RingMode.SYSCALL, RingMode.SYSCALL_EXIT));
        withExits.running(0, INIT);
        assertThat(withExits.rearm()).hasValueSatisfying(disarmed -> assertThat(disarmed.modes())
                .as("a call entered while armed still reports its return").contains(RingMode.SYSCALL_EXIT)
                .doesNotContain(RingMode.SYSCALL));

        assertThat(withExits.plan(List.of(need(TraceMethod.M1, false, SH)))).hasValueSatisfying(off ->
                assertThat(off).isEqualTo(RingControl.off()));
    }

    @Test
    void m5FiltersAndDecodesInTheHypervisorAndNothingWaits() {
        RingControl c = plan.plan(List.of(need(TraceMethod.M5, false, SH))).orElseThrow();
        assertThat(c.modes()).isEqualTo(modes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.SYSCALL,
                RingMode.SYSCALL_FILTER, RingMode.PREREAD));
        assertThat(plan.synchronous()).isFalse();
        plan.running(0, SH);
        assertThat(plan.rearm()).as("M5 is never armed by Java").isEmpty();
    }

    @Test
    void sessionsShareTheRingAsTheUnionOfTheirNeeds() {
        RingControl both = plan.plan(List.of(need(TraceMethod.M5, false, SH), need(TraceMethod.M3, false, CHILD)))
                .orElseThrow();
        assertThat(both.modes()).contains(RingMode.CR3, RingMode.CR3_SYNC, RingMode.SYSCALL, RingMode.SYSCALL_FILTER);
        assertThat(both.modes()).as("the widest CR3 need wins: M3 sees every write").doesNotContain(RingMode.CR3_FILTER);
        assertThat(both.dtbs()).containsExactlyInAnyOrder(SH, CHILD);
        assertThat(plan.tracedDtbs()).containsExactlyInAnyOrder(SH, CHILD);

        RingControl one = plan.plan(List.of(need(TraceMethod.M5, false, SH))).orElseThrow();
        assertThat(one.dtbs()).containsExactly(SH);
        assertThat(plan.plan(List.of(need(TraceMethod.M5, false, SH)))).as("unchanged: nothing to write").isEmpty();
        assertThat(plan.off()).hasValue(RingControl.off());
        assertThat(plan.off()).isEmpty();
    }
}
