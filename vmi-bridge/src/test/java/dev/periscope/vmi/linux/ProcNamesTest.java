package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The names /proc shows, built from synthetic kthread and workqueue structures laid out as 6.1's. */
class ProcNamesTest {

    private static Map<Integer, GuestProcess> walk(SyntheticGuest g) {
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.warnings()).isEmpty();
        return r.processes().stream().collect(Collectors.toMap(GuestProcess::pid, Function.identity()));
    }

    @Test
    void kernelThreadShowsItsFullNameAndKeepsTheComm() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long rcu = g.task(12, "rcu_tasks_kthre", 0, true, null);
        g.kthread(rcu, "rcu_tasks_kthread");
        long kthreadd = g.task(2, "kthreadd", 0, true, null);
        g.kthread(kthreadd, null);
        long longer = g.task(13, "x", 0, true, null);
        g.kthread(longer, "k".repeat(100));
        g.link(rcu);
        g.link(kthreadd);
        g.link(longer);
        Map<Integer, GuestProcess> p = walk(g);
        assertThat(p.get(12).name()).isEqualTo("rcu_tasks_kthread");
        assertThat(p.get(12).comm()).isEqualTo("rcu_tasks_kthre");
        assertThat(p.get(12).cmdline()).isEqualTo("[rcu_tasks_kthread]");
        assertThat(p.get(2).name()).isEqualTo("kthreadd").isEqualTo(p.get(2).comm());
        assertThat(p.get(13).name()).as("proc_task_name's 64-byte buffer").isEqualTo("k".repeat(63));
    }

    @Test
    void workqueueWorkersUpTo69ShowCommAndWorkqueue() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long idle = g.task(20, "kworker/u2:1", 0, true, null);
        g.worker(idle, 1, -1, 2, 0, "events_unbound", false, null);
        long busy = g.task(21, "kworker/0:1H", 0, true, null);
        g.worker(busy, 1, 0, 1, -20, "kblockd", true, null);
        long fresh = g.task(22, "kworker/0:2", 0, true, null);
        g.worker(fresh, 2, 0, 0, 0, "", false, null);
        long rescuer = g.task(23, "ext4-rsv-conver", 0, true, null);
        g.worker(rescuer, 0, 0, 0, 0, "", false, "ext4-rsv-conversion");
        for (long t : new long[] {idle, busy, fresh, rescuer}) {
            g.link(t);
        }
        Map<Integer, GuestProcess> p = walk(g);
        assertThat(p.get(20).name()).isEqualTo("kworker/u2:1-events_unbound");
        assertThat(p.get(20).comm()).isEqualTo("kworker/u2:1");
        assertThat(p.get(21).name()).isEqualTo("kworker/0:1H+kblockd");
        assertThat(p.get(22).name()).as("no workqueue run yet: no suffix").isEqualTo("kworker/0:2");
        assertThat(p.get(23).name()).as("6.1 starts from the comm").isEqualTo("ext4-rsv-conver");
    }

    @Test
    void workqueueWorkersFrom610ShowTheFullWorkerId() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        g.release = "6.12.95+deb12-amd64";
        long rescuer = g.task(30, "kworker/R-mm_pe", 0, true, null);
        g.worker(rescuer, 0, 0, 0, 0, "", false, "mm_percpu_wq");
        long unbound = g.task(31, "kworker/u8:3", 0, true, null);
        g.worker(unbound, 3, -1, 8, 0, "flush-8:0", true, null);
        long high = g.task(32, "kworker/1:0H", 0, true, null);
        g.worker(high, 0, 1, 3, -20, "kblockd", false, null);
        long wide = g.task(33, "kworker/u1024:1", 0, true, null);
        g.worker(wide, 123, -1, 1024, 0, "events_unbound", false, null);
        for (long t : new long[] {rescuer, unbound, high, wide}) {
            g.link(t);
        }
        Map<Integer, GuestProcess> p = walk(g);
        assertThat(p.get(30).name()).isEqualTo("kworker/R-mm_percpu_wq");
        assertThat(p.get(30).comm()).isEqualTo("kworker/R-mm_pe");
        assertThat(p.get(31).name()).isEqualTo("kworker/u8:3+flush-8:0");
        assertThat(p.get(32).name()).isEqualTo("kworker/1:0H-kblockd");
        assertThat(p.get(33).name()).as("the id is formatted again, not taken from the truncated comm")
                .isEqualTo("kworker/u1024:123-events_unbound");
    }

    @Test
    void theKernelsOwnSymbolOrReleaseSaysHowWorkerIdsAreFormatted() {
        assertThat(TaskNames.formatsWorkerIds(null, "6.1.0-57-amd64")).isFalse();
        assertThat(TaskNames.formatsWorkerIds(null, "6.9.0")).isFalse();
        assertThat(TaskNames.formatsWorkerIds(null, "6.10.0")).isTrue();
        assertThat(TaskNames.formatsWorkerIds(null, "6.12.95+deb12-amd64")).isTrue();
        assertThat(TaskNames.formatsWorkerIds(null, "7.0")).isTrue();
        assertThat(TaskNames.formatsWorkerIds(null, "garbage")).isFalse();
        SymbolTable withSymbol = new SymbolTable(new String[] {"format_worker_id"}, new long[] {0xffffffff81000000L},
                new boolean[] {false}, 0);
        assertThat(TaskNames.formatsWorkerIds(withSymbol, "6.6.0")).as("a stable backport").isTrue();
    }

    @Test
    void hostileWorkerPointersFallBackToTheCommWithAWarning() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long w = g.task(40, "kworker/0:0", 0, true, null);
        long worker = g.worker(w, 0, 0, 0, 0, "events", false, null);
        g.memory.writeLong(SyntheticGuest.pa(worker + SyntheticGuest.NAMES.workerPool()), 0x4141414141414141L);
        long k = g.task(41, "kthread-comm", 0, true, null);
        long kthread = g.kthread(k, "a-full-name");
        g.memory.writeLong(SyntheticGuest.pa(kthread + SyntheticGuest.NAMES.kthreadFullName()),
                SyntheticGuest.DIRECT_MAP + (1L << 30));
        g.link(w);
        g.link(k);
        TaskWalker.Result r = g.walker().walk();
        assertThat(r.processes()).extracting(GuestProcess::name).containsExactly("kworker/0:0", "kthread-comm");
        assertThat(r.warnings()).hasSize(2).allMatch(s -> s.contains("name unreadable, comm shown"));
    }

    @Test
    void unterminatedNamesStopAtTheirBounds() {
        SyntheticGuest g = new SyntheticGuest(8 << 20);
        long w = g.task(50, "kworker/0:0", 0, true, null);
        long worker = g.worker(w, 0, 0, 0, 0, "", false, null);
        // desc is 24 bytes: fill them and the bytes after it, no NUL anywhere near
        g.memory.write(SyntheticGuest.pa(worker + SyntheticGuest.NAMES.workerDesc()), ("d".repeat(24) + "XXXX").getBytes());
        g.memory.write(SyntheticGuest.pa(w + SyntheticGuest.OFFSETS.taskComm()), "c".repeat(16).getBytes());
        g.link(w);
        GuestProcess p = g.walker().walk().processes().getFirst();
        assertThat(p.comm()).isEqualTo("c".repeat(16));
        assertThat(p.name()).isEqualTo("c".repeat(16) + "-" + "d".repeat(24));
    }
}
