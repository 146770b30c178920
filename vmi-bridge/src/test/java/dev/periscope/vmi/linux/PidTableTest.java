package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The PID table cross-check on a synthetic guest: hidden (unlinked) and forged (unhashed) processes. */
class PidTableTest {

    @Test
    void aProcessUnlinkedFromTheTaskListIsFoundInThePidTableAndMarkedHidden() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long init = g.task(1, "init", 0, false, "init\0");
        long victim = g.task(666, "rootkitted", 0, false, "/tmp/x\0-q\0");
        g.thread(victim, 667);
        long after = g.task(700, "after", 0, true, null);
        g.link(init);
        g.link(victim);
        g.link(after);
        g.unlink(victim);
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(1, 666, 700);
        GuestProcess hidden = r.processes().get(1);
        assertThat(hidden.visibility()).isEqualTo(Visibility.HIDDEN);
        assertThat(hidden.hidden()).isTrue();
        assertThat(hidden.argv()).containsExactly("/tmp/x", "-q");
        assertThat(hidden.threads()).containsExactly(666, 667);
        assertThat(r.processes().get(0).visibility()).isEqualTo(Visibility.LISTED);
        assertThat(r.warnings()).containsExactly(
                "pid 666 (rootkitted) is alive in the PID table but unlinked from the task list: hidden");
    }

    @Test
    void aSelfReferencingTaskListHidesNothing() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        for (int pid = 1; pid <= 5; pid++) {
            g.link(g.task(pid, "p" + pid, 0, true, null));
        }
        long head = g.initTask + SyntheticGuest.OFFSETS.taskTasks();
        g.memory.writeLong(SyntheticGuest.pa(head), head);
        g.memory.writeLong(SyntheticGuest.pa(head + 8), head);
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(1, 2, 3, 4, 5);
        assertThat(r.processes()).allMatch(GuestProcess::hidden);
    }

    @Test
    void aTaskForgedIntoTheListIsMarkedUnhashed() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        g.link(g.task(1, "init", 0, false, "init\0"));
        long forged = g.task(31337, "sshd", 0, false, "/usr/sbin/sshd\0");
        g.link(forged);
        g.pids.remove(31337); // a task the kernel never hashed
        TaskWalker.Result r = g.walker().walk();
        GuestProcess p = r.processes().stream().filter(x -> x.pid() == 31337).findFirst().orElseThrow();
        assertThat(p.visibility()).isEqualTo(Visibility.UNHASHED);
        assertThat(r.warnings()).anyMatch(w -> w.contains("31337") && w.contains("not in the PID table"));
    }

    @Test
    void aCorruptPidTableLeavesTheListAndSaysSo() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        g.link(g.task(1, "init", 0, false, "init\0"));
        g.link(g.task(2, "kthreadd", 0, true, null));
        TaskWalker walker = g.walker();
        long headAt = SyntheticGuest.pa(g.initPidNs + SyntheticGuest.PID_TABLE.nsXaHead());
        long root = g.memory.readLong(headAt) - 2;
        // the root's first slot points back at the root: a loop; its shift says a leaf holds nodes
        g.memory.writeLong(SyntheticGuest.pa(root + SyntheticGuest.PID_TABLE.nodeSlots()), root | 2);
        TaskWalker.Result r = walker.walk();
        assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(1, 2);
        assertThat(r.processes()).allMatch(p -> p.visibility() == Visibility.LISTED);
        assertThat(r.warnings()).anyMatch(w -> w.startsWith("PID table"));
    }

    @Test
    void aPidTableMissingManyListedProcessesIsReportedCorruptRatherThanFlaggingThem() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        for (int pid = 1; pid <= 40; pid++) {
            g.link(g.task(pid, "p" + pid, 0, true, null));
        }
        for (int pid = 1; pid <= 20; pid++) {
            g.pids.remove(pid); // half the table lost: corrupt, not twenty forged tasks
        }
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.processes()).hasSize(40).allMatch(p -> p.visibility() == Visibility.LISTED);
        assertThat(r.warnings()).containsExactly(
                "PID table misses 20 of 40 listed processes: the table is corrupt, no process marked unhashed");
    }

    @Test
    void threadDetailsOnRequestOnly() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long sh = g.task(300, "sh", 0, false, "sh\0");
        g.thread(sh, 302);
        g.thread(sh, 301);
        g.link(sh);
        GuestProcess cheap = g.walker().walk().processes().getFirst();
        assertThat(cheap.threads()).containsExactly(300, 301, 302);
        assertThat(cheap.threadDetails()).isEmpty();
        GuestProcess full = g.walker(ThreadDetail.FULL).walk().processes().getFirst();
        assertThat(full.threadDetails()).isEqualTo(List.of(new GuestThread(300, "sh", "sh", "S"),
                new GuestThread(301, "t301", "t301", "S"), new GuestThread(302, "t302", "t302", "S")));
    }
}
