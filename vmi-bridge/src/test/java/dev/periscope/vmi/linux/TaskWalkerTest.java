package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.GuestDataException;
import java.time.Duration;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class TaskWalkerTest {

    @Test
    void readsANormalTaskList() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long kthreadd = g.task(2, "kthreadd", 0, true, null);
        long init = g.task(1, "systemd", 0, false, "/sbin/init\0splash\0");
        long sh = g.task(300, "sh", 1000, false, "sh\0-c\0echo \u0001hi\0");
        g.setParent(sh, init);
        g.thread(sh, 301);
        g.thread(sh, 302);
        g.link(init);
        g.link(kthreadd);
        g.link(sh);
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.warnings()).isEmpty();
        assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(1, 2, 300);
        GuestProcess p1 = r.processes().get(0);
        assertThat(p1.argv()).containsExactly("/sbin/init", "splash");
        assertThat(p1.kernelThread()).isFalse();
        assertThat(p1.cr3()).isNotZero();
        assertThat(p1.ppid()).isZero();
        GuestProcess k = r.processes().get(1);
        assertThat(k.kernelThread()).isTrue();
        assertThat(k.cmdline()).isEqualTo("[kthreadd]");
        GuestProcess s = r.processes().get(2);
        assertThat(s.ppid()).isEqualTo(1);
        assertThat(s.uid()).isEqualTo(1000);
        assertThat(s.argv()).containsExactly("sh", "-c", "echo ?hi");
        assertThat(s.threads()).containsExactly(300, 301, 302);
        assertThat(s.state()).isEqualTo("S");
    }

    @Test
    void cycleNotBackToHeadStopsWithAWarning() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long a = g.task(10, "a", 0, true, null), b = g.task(11, "b", 0, true, null);
        g.link(a);
        g.link(b);
        g.setNext(b, a + SyntheticGuest.OFFSETS.taskTasks()); // A -> B -> A
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(10, 11);
        assertThat(r.warnings()).anyMatch(w -> w.contains("cycle"));
    }

    @Test
    void wildPointersBreakTheWalkButTheRestIsRecoveredBackwards() {
        for (long wild : new long[] {0x1234L, 0x8000_0000_0000_0000L, SyntheticGuest.DIRECT_MAP + (1L << 30)}) {
            SyntheticGuest g = new SyntheticGuest(8 << 20);
            long a = g.task(10, "a", 0, true, null), b = g.task(11, "b", 0, true, null);
            long c = g.task(12, "c", 0, true, null);
            g.link(a);
            g.link(b);
            g.link(c);
            g.setNext(a, wild);
            TaskWalker.Result r = g.walker().walk();
            assertThat(r.processes()).extracting(GuestProcess::pid).containsExactly(10, 11, 12);
            assertThat(r.warnings()).as("0x%x", wild).anyMatch(w -> w.contains("broken"));
        }
    }

    @Test
    void hugeListStopsAtTheBound() {
        SyntheticGuest g = new SyntheticGuest(64 << 20);
        // Nodes only (the walk reads each task, a small fake task is enough): a chain longer than the bound.
        long first = 0;
        long previous = 0;
        int n = TaskWalker.MAX_TASKS + 10;
        for (int i = 0; i < n; i++) {
            long t = g.alloc(0x60);
            long node = t + SyntheticGuest.OFFSETS.taskTasks();
            if (previous == 0) {
                first = node;
            } else {
                g.memory.writeLong(SyntheticGuest.pa(previous), node);
            }
            g.memory.writeInt(SyntheticGuest.pa(t + SyntheticGuest.OFFSETS.taskPid()), i + 100);
            previous = node;
        }
        g.memory.writeLong(SyntheticGuest.pa(previous), previous); // ends in a self loop, never at the head
        long head = g.initTask + SyntheticGuest.OFFSETS.taskTasks();
        g.memory.writeLong(SyntheticGuest.pa(head), first);
        long t0 = System.nanoTime();
        TaskWalker.Result r = g.walker().walk();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
        assertThat(r.warnings()).anyMatch(w -> w.contains("longer than"));
        assertThat(r.processes().size()).isLessThanOrEqualTo(TaskWalker.MAX_TASKS + 1);
        assertThat(r.warnings().size()).isLessThanOrEqualTo(TaskWalker.MAX_WARNINGS + 5);
    }

    @Test
    void garbageCommIsSanitised() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long t = g.task(5, "x", 0, true, null);
        g.memory.write(SyntheticGuest.pa(t + SyntheticGuest.OFFSETS.taskComm()),
                new byte[] {'a', 1, (byte) 0xff, 0x7f, 'b', (byte) 0xc3, (byte) 0xa9, 'c', 'd', 'e', 'f', 'g', 'h', 'i',
                        'j', 'k'});
        g.link(t);
        GuestProcess p = g.walker().walk().processes().getFirst();
        assertThat(p.name()).startsWith("a???b\u00e9c").hasSizeLessThanOrEqualTo(16);
    }

    @Test
    void stateLettersFollowProc() {
        assertThat(TaskWalker.stateLetter(0, 0)).isEqualTo("R");
        assertThat(TaskWalker.stateLetter(1, 0)).isEqualTo("S");
        assertThat(TaskWalker.stateLetter(2, 0)).isEqualTo("D");
        assertThat(TaskWalker.stateLetter(4, 0)).isEqualTo("T");
        assertThat(TaskWalker.stateLetter(8, 0)).isEqualTo("t");
        assertThat(TaskWalker.stateLetter(0, 0x20)).isEqualTo("Z");
        assertThat(TaskWalker.stateLetter(0, 0x10)).isEqualTo("X");
        assertThat(TaskWalker.stateLetter(0x40, 0)).isEqualTo("P");
        assertThat(TaskWalker.stateLetter(0x402, 0)).isEqualTo("I");
        assertThat(TaskWalker.stateLetter(0x8001, 0)).isEqualTo("D");
    }

    @Property(tries = 80)
    void randomTaskBytesGiveResultsWithWarningsInBoundedTime(@ForAll @Size(min = 64, max = 512) byte[] noise,
                                                             @ForAll @IntRange(min = 0, max = 2) int victim) {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long[] tasks = {g.task(10, "a", 0, false, "a\0"), g.task(11, "b", 0, true, null),
                g.task(12, "c", 1, false, "c\0d\0")};
        for (long t : tasks) {
            g.link(t);
        }
        g.memory.write(SyntheticGuest.pa(tasks[victim]), noise);
        long t0 = System.nanoTime();
        try {
            TaskWalker.Result r = g.walker().walk();
            assertThat(r.processes().size()).isLessThanOrEqualTo(3 + noise.length);
        } catch (GuestDataException tolerated) {
            // acceptable outcome for hostile data
        }
        assertThat(System.nanoTime() - t0).isLessThan(Duration.ofSeconds(5).toNanos());
    }

    @Test
    void processesThroughTheModel() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        g.link(g.task(1, "init", 0, false, "init\0"));
        g.publishPidTable();
        LinuxModel.Processes p = LinuxModel.processes(g.memory, g.profile());
        assertThat(p.processes()).extracting(GuestProcess::name).isEqualTo(List.of("init"));
    }
}
