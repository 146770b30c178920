package dev.periscope.vmi.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.lab.LabVm;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;
import reactor.core.Disposable;

/**
 * Syscall results and decoding checked against a real guest (a lab VM started with {@code --tools}): the guest runs
 * the syscall probe ({@code lab/tools/syscall-probe.c}) under strace (Debian's, with its libraries) while the engine
 * traces the probe. The trace must hold, in order, exactly the calls the probe made, each with the value the probe
 * saw returned, each written as strace wrote it ({@code -s 64}); the syscall table read from the guest must agree
 * with the built-in one. Used by {@link TraceLabTest} (6.1) and {@link Kernel612TraceLabTest}.
 */
final class SyscallProbe {

    private static final String PROBE = "syscall-probe";
    /** The probe's first call after its start signal. */
    private static final String FIRST_CALL = "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC)";
    private static final Pattern STRACE_RESULT = Pattern.compile("\\s+= ");

    private SyscallProbe() {
    }

    /**
     * Runs the probe under strace in {@code guest}, traced with {@code method}, and checks the trace against the
     * probe's own log and strace's. M5 takes memory from the plugin's pre-read copies (entries and returns), the
     * synchronous methods read it from the guest while the vCPU waits.
     */
    static void check(LabVm guest, VmiEngine engine, TraceMethod method) {
        LabVm.Result started = guest.exec("sh", "-c", "rm -f /tmp/go /tmp/probe.log /tmp/strace.log; mkfifo /tmp/go; "
                + "setsid sh -c 'strace -o /tmp/strace.log -s 64 /periscope/tools/syscall-probe /tmp/go "
                + "> /tmp/probe.log 2>&1' </dev/null >/dev/null 2>&1 & "
                + "for i in $(seq 50); do pidof " + PROBE + " && exit 0; sleep 0.1; done; exit 1");
        assertThat(started.ok()).as("the probe waits for its start: " + started.output()).isTrue();

        List<TraceEvent> events = Collections.synchronizedList(new ArrayList<>());
        OverheadSnapshot overhead;
        SyscallTable table;
        try (TraceSession s = engine.trace(guest.name(), TraceRequest.process(PROBE).withMethod(method))) {
            table = s.syscallTable();
            Disposable d = s.events().subscribe(events::add);
            sleep(1500); // every vCPU adopts the new control and retranslates for the new breakpoints
            assertThat(guest.exec("sh", "-c", "echo g > /tmp/go").ok()).isTrue();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!s.ended() && System.nanoTime() < deadline) {
                sleep(100);
            }
            assertThat(s.end()).as(method + ": the session ends with the probe").map(e -> e.reason())
                    .contains(TraceEnd.Reason.TARGET_EXITED);
            overhead = s.overhead();
            d.dispose();
        }
        String probeLog = guest.exec("cat", "/tmp/probe.log").output();
        String straceLog = guest.exec("cat", "/tmp/strace.log").output();

        assertThat(table.source()).isEqualTo(SyscallTable.Source.GUEST_SYS_CALL_TABLE);
        assertThat(table.disagreements(SyscallTable.builtin())).as("the guest's table against the built-in one")
                .isEmpty();

        List<TraceEvent.Syscall> calls;
        synchronized (events) {
            calls = events.stream().filter(TraceEvent.Syscall.class::isInstance).map(TraceEvent.Syscall.class::cast)
                    .toList();
        }
        int first = indexOf(calls, FIRST_CALL);
        assertThat(first).as(method + ": the probe's first call in " + calls).isNotNegative();
        List<TraceEvent.Syscall> traced = calls.subList(first, calls.size());

        // 1. the values the probe saw, call by call
        List<long[]> seen = probeLog.lines().filter(l -> !l.isBlank()).map(l -> {
            String[] f = l.trim().split(" ");
            return new long[] {Long.parseLong(f[0]), Long.parseLong(f[1])};
        }).toList();
        assertThat(seen).as("the probe's own log").hasSizeGreaterThan(25);
        for (int i = 0; i < seen.size(); i++) {
            TraceEvent.Syscall c = traced.get(i);
            assertThat(c.number()).as(method + " call " + i + ": " + c).isEqualTo((int) seen.get(i)[0]);
            assertThat(c.result().status()).as(method + " call " + i + ": " + c).isEqualTo(TraceEvent.Status.RETURNED);
            assertThat(c.result().value()).as(method + " call " + i + ": " + c).isEqualTo(seen.get(i)[1]);
            assertThat(c.result().durationNs()).isPositive().isLessThan(Duration.ofSeconds(10).toNanos());
        }
        assertThat(traced.get(seen.size()).name()).as("then the log is written").isEqualTo("write");
        assertThat(traced.get(seen.size() + 1).toString()).endsWith("exit_group(0) = ?");
        assertThat(traced).hasSize(seen.size() + 2);

        // 2. every line as strace wrote it
        List<String> straced = straceLog.lines().map(l -> STRACE_RESULT.matcher(l).replaceFirst(" = ")).toList();
        int from = straced.indexOf(straced.stream().filter(l -> l.startsWith(FIRST_CALL)).findFirst().orElse(""));
        assertThat(from).as("strace's log:\n" + straceLog).isNotNegative();
        List<String> expected = straced.subList(from, from + traced.size());
        List<String> ours = traced.stream().map(c -> c.toString().replaceFirst("^\\d+ ", "")
                .replaceFirst(" <[0-9.]+>$", "")).toList();
        assertThat(ours).as(method + ": the trace as strace writes it").containsExactlyElementsOf(expected);

        assertThat(overhead.exitsUnmatched()).isZero();
        assertThat(overhead.exitsLost()).isZero();
        assertThat(overhead.exitsPaired()).isGreaterThanOrEqualTo(seen.size() + 1);
        System.out.printf("%s on %s: %d calls checked against the probe and strace; %s%n", method, guest.name(),
                traced.size(), overhead);
        traced.forEach(c -> System.out.println("  " + c));
    }

    private static int indexOf(List<TraceEvent.Syscall> calls, String call) {
        for (int i = 0; i < calls.size(); i++) {
            if (calls.get(i).call().equals(call)) {
                return i;
            }
        }
        return -1;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
