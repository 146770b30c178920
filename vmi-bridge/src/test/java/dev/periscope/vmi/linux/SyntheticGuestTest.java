package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * The synthetic guest shared between threads, as the trace rig shares it: the ring thread walks it while the test
 * thread forks processes into it. A walk writes too (it publishes the PID table), so an unsynchronized guest threw
 * {@link java.util.ConcurrentModificationException} in the walk or showed a child half made.
 */
class SyntheticGuestTest {

    @Test
    void aWalkOnAnotherThreadSeesEachSpawnedProcessWholeOrNotAtAll() throws Exception {
        SyntheticGuest g = new SyntheticGuest(64 << 20);
        long init = g.spawn(1, "init", 0, "/sbin/init\0");
        AtomicBoolean spawning = new AtomicBoolean(true);
        AtomicInteger walks = new AtomicInteger();
        CompletableFuture<Void> walker = CompletableFuture.runAsync(() -> {
            while (spawning.get()) {
                List<GuestProcess> processes = g.processes();
                assertThat(processes).filteredOn(p -> p.pid() != 1).allSatisfy(p -> {
                    assertThat(p.ppid()).as("pid %d's parent", p.pid()).isEqualTo(1);
                    assertThat(p.visibility()).as("pid %d", p.pid()).isEqualTo(Visibility.LISTED);
                    assertThat(p.cr3()).as("pid %d's address space", p.pid()).isNotZero();
                });
                walks.incrementAndGet();
            }
        });
        while (walks.get() == 0 && !walker.isDone()) {
            Thread.onSpinWait();
        }
        // 500 forks spread over the walks that run meanwhile
        for (int pid = 100; pid < 600 && !walker.isDone(); pid++) {
            g.spawn(pid, "child", init, "child\0");
            LockSupport.parkNanos(20_000);
        }
        spawning.set(false);
        walker.get(30, TimeUnit.SECONDS);
        assertThat(g.processes()).hasSize(501);
        assertThat(walks.get()).isGreaterThan(1);
    }
}
