package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.lab.LabVm;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;

/**
 * The whole trace path against a real guest with the QEMU plugin: lab.sh wires the ring, the engine traces the
 * test shell's process tree with each method while a known sequence of syscalls runs in it (next to the busy
 * workload's unrelated processes), and the trace must hold exactly that process's syscalls, with paths decoded. The
 * guest also carries the tools overlay: syscall results and decoding are checked against a probe and strace in it
 * ({@link SyscallProbe}).
 */
class TraceLabTest {

    private static final String VM = "tr-trace-" + Long.toString(ProcessHandle.current().pid() % 100000, 36);
    private static LabVm guest;
    private static LabDriver driver;
    private static VmiEngine engine;

    @BeforeAll
    static void boot() {
        LabVm.assumeLabEnabled();
        guest = LabVm.start(VM, "--workload", "busy", "--tools");
        driver = new LabDriver(LabVm.varDir());
        engine = new VmiEngine(driver);
    }

    @AfterAll
    static void shutdown() {
        if (engine != null) {
            engine.close();
        }
        if (guest != null) {
            guest.close();
        }
    }

    @Test
    void labVmsReportTheExtensionsCapabilities() {
        assertThat(engine.capabilities(VM)).contains(Capability.CR3_EVENTS, Capability.HYPERVISOR_CR3_FILTER,
                Capability.HYPERVISOR_BREAKPOINTS, Capability.SYNCHRONOUS_EVENTS);
    }

    @Test
    void m2TracesTheProbe() {
        checkProbe(TraceMethod.M2);
    }

    @Test
    void m3TracesTheProbe() {
        checkProbe(TraceMethod.M3);
    }

    @Test
    void m4TracesTheProbe() {
        checkProbe(TraceMethod.M4);
    }

    @Test
    void m5TracesTheProbe() {
        checkProbe(TraceMethod.M5);
    }

    @Test
    void m5ResultsAndDecodingMatchTheGuestAndStrace() {
        SyscallProbe.check(guest, engine, TraceMethod.M5);
    }

    @Test
    void m4ResultsAndDecodingMatchTheGuestAndStrace() {
        SyscallProbe.check(guest, engine, TraceMethod.M4);
    }

    @Test
    void m1TrapsNothing() {
        List<TraceEvent> events = Collections.synchronizedList(new ArrayList<>());
        try (TraceSession s = engine.trace(VM, TraceRequest.process("periscope-shell").withMethod(TraceMethod.M1)
                .withChildren(true))) {
            Disposable d = s.events().subscribe(events::add);
            LabVm.Result r = guest.exec("sh", "-c", "echo m1 > /tmp/periscope-m1; cat /tmp/periscope-m1");
            assertThat(r.ok()).isTrue();
            OverheadSnapshot o = s.overhead();
            assertThat(o.syscallsDelivered()).isZero();
            assertThat(o.vcpuWait()).isEqualTo(Duration.ZERO);
            d.dispose();
        }
        assertThat(events).noneMatch(e -> e instanceof TraceEvent.Syscall);
    }

    private static void awaitSyscall(List<TraceEvent> events, int pid, String syscall, long timeoutMillis) {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            synchronized (events) {
                if (events.stream().anyMatch(e -> e instanceof TraceEvent.Syscall c && c.pid() == pid
                        && syscall.equals(c.name()))) {
                    return;
                }
            }
            sleepQuietly(50);
        }
    }

    private void checkProbe(TraceMethod method) {
        String file = "/tmp/periscope-probe-" + method + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
        List<TraceEvent> events = Collections.synchronizedList(new ArrayList<>());
        Set<Integer> everTraced = Collections.synchronizedSet(new HashSet<>());
        OverheadSnapshot overhead;
        int probePid;
        try (TraceSession s = engine.trace(VM, TraceRequest.process("periscope-shell").withMethod(method)
                .withChildren(true))) {
            assertThat(s.syscallTable().source()).isEqualTo(SyscallTable.Source.GUEST_SYS_CALL_TABLE);
            Disposable d = s.events().subscribe(e -> {
                everTraced.addAll(s.tracedPids());
                events.add(e);
            });
            // The probe shell lives a while before it works, so the engine sees it whichever way it learns of
            // new processes; its own builtins then open, write and read the named file.
            LabVm.Result r = guest.exec("sh", "-c", "echo $$; sleep 1; echo periscope-probe > " + file
                    + "; read line < " + file + "; echo $line; rm " + file);
            assertThat(r.ok()).as(r.output()).isTrue();
            assertThat(r.output()).contains("periscope-probe");
            probePid = Integer.parseInt(r.output().lines().findFirst().orElseThrow().trim());
            // M5 is asynchronous: wait (bounded) until the ring thread delivered the probe shell's last syscalls.
            awaitSyscall(events, probePid, "exit_group", 10_000);
            overhead = s.overhead();
            everTraced.addAll(s.tracedPids());
            d.dispose();
        }
        List<TraceEvent> seen;
        synchronized (events) { // an event in flight when the subscription was disposed may still be added
            seen = List.copyOf(events);
        }
        List<TraceEvent.Syscall> syscalls = seen.stream().filter(TraceEvent.Syscall.class::isInstance)
                .map(TraceEvent.Syscall.class::cast).toList();
        List<TraceEvent.Syscall> probe = syscalls.stream().filter(e -> e.pid() == probePid).toList();
        String quoted = "\"" + file + "\"";
        assertThat(probe).as(method + ": openat of the probe file by pid " + probePid + " in " + probe)
                .anyMatch(e -> e.name().equals("openat") && quoted.equals(e.text("filename")));
        assertThat(probe).as(method + ": write of the probe text")
                .anyMatch(e -> e.name().equals("write") && e.text("buf") != null
                        && e.text("buf").startsWith("\"periscope-probe"));
        assertThat(probe).as(method + ": read").anyMatch(e -> e.name().equals("read"));
        assertThat(probe).as(method + ": unlink of the probe file")
                .anyMatch(e -> e.name().equals("unlinkat") || e.name().equals("unlink"));
        // nothing from the busy workload or any other process outside the traced tree
        assertThat(syscalls).as(method + ": only traced processes").allMatch(e -> everTraced.contains(e.pid()));
        assertThat(syscalls).as(method + ": no busy workload").noneMatch(e -> e.process().startsWith("busy"));
        assertThat(overhead.syscallsMatched()).isGreaterThanOrEqualTo(probe.size());
        if (method.synchronous()) {
            assertThat(overhead.vcpuWait()).isPositive();
        }
        if (method == TraceMethod.M4 || method == TraceMethod.M5) {
            assertThat(overhead.cr3Filtered()).as("CR3 writes filtered in the hypervisor").isPositive();
        }
        System.out.printf("%s: %d events, %d from the probe; %s%n", method, syscalls.size(), probe.size(), overhead);
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
