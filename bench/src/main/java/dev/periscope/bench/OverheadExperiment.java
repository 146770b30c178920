package dev.periscope.bench;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.xen.XenDriver;
import dev.periscope.vmi.trace.OverheadSnapshot;
import dev.periscope.vmi.trace.TraceEvent;
import dev.periscope.vmi.trace.TraceMethod;
import dev.periscope.vmi.trace.TraceRequest;
import dev.periscope.vmi.trace.TraceSession;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToLongFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import reactor.core.Disposable;

/**
 * The five-method experiment (docs/ARCHITECTURE.md, "Traces and the five methods"), after Taubmann and Reiser
 * (DAIS 2020, Table 1): one guest runs a job in {@code paper-shell} forever (the guest times each iteration itself and prints
 * {@code PERISCOPE-PAPER iteration=N ms=M} on its console). For each round and each method the runner starts a
 * trace of {@code paper-shell} in the workload's pause, lets {@code --iterations} iterations run under it, reads
 * their times from the console log and the session's overhead counters, closes the session and checks that the
 * guest's code at the breakpoint addresses is what it was before (no INT3 left). A first untimed session warms the
 * monitor up (class loading, compilation, the event ring). Rounds interleave the methods, each
 * round starting one method later, so host noise and order effects spread over all of them; after the last round
 * one more iteration must complete untraced (the guest is alive). Prints a Markdown table (or {@code --json}) and
 * writes both to {@code --out DIR}: mean iteration time with its spread, overhead against the same round's M1,
 * syscalls and CR3 events that reached the monitor or stayed in the hypervisor, per-event costs derived from them,
 * and the paper's Table 1 beside them.
 *
 * <pre>
 * bench/overhead.sh [--paper] [--platform xen] [--runs N] [--iterations K] [--vm NAME] [--methods M1,M2,...]
 *                   [--keep-vm] [--json]
 * </pre>
 *
 * <p>Profiles: the default traces paper-shell of the {@code paper} workload with its children (a corpus unpacked
 * and hashed, busy processes beside it, 512 MiB); {@code --paper} is the paper's own configuration: 1 vCPU, 256 MiB,
 * {@code pti=on}, only the shell itself traced (not its children) for read, write, open/openat, close and execve,
 * ten rounds of the {@code jansson} workload (the jansson sources unpacked from a zip and compiled with tcc).
 *
 * <p>With {@code --platform xen} it runs inside dom0 of the Xen lab against a domU that already runs the workload
 * (bench/overhead.sh and lab/xen/test.sh start it), through the Xen driver and its vm_event monitor, and reads the
 * iteration lines from xenconsoled's log of the domU ({@code --console FILE}, default
 * {@code /var/log/xen/console/guest-NAME.log}); {@code --host-load FILE} names a file the host keeps writing its
 * load average into (dom0 cannot see the host's load). {@code --iteration-timeout MINUTES} (default 15, 60 on Xen) bounds
 * the wait for one iteration. {@code --guest-spec} prints the profile's guest (workload, MiB, kernel parameters) and
 * exits: bench/overhead.sh starts the Xen lab's guest from it.
 */
public final class OverheadExperiment {

    private static final Pattern ITERATION = Pattern.compile("PERISCOPE-PAPER iteration=(\\d+) ms=(\\d+)");
    /** Where the methods put breakpoints: checked after every session for a byte left behind. */
    private static final List<String> BREAKPOINT_SYMBOLS = List.of("entry_SYSCALL_64", "wake_up_new_task");
    private static final byte INT3 = (byte) 0xcc;
    /** How long the breakpoints may take to go after a session closed. */
    private static final Duration BREAKPOINT_TEARDOWN = Duration.ofSeconds(30);

    /** What is traced, in which guest, how often. */
    record Profile(String name, String workload, int memoryMib, String kernelParams, String target, boolean children,
                   Set<String> monitored, int runs, int iterations) {
        static final Profile DEFAULT = new Profile("default", "paper", 512, "", "paper-shell", true, Set.of(), 3, 1);
        /** DAIS 2020: the interactive shell itself, five syscalls, a C library unpacked and compiled ten times. */
        static final Profile PAPER = new Profile("paper", "jansson", 256, "pti=on", "paper-shell", false,
                Set.of("read", "write", "open", "openat", "close", "execve"), 10, 1);

        /** Whether a syscall counts as monitored (every syscall when the profile names none). */
        boolean monitors(String syscall) {
            return monitored.isEmpty() || monitored.contains(syscall);
        }
    }

    /**
     * One method's session in one round.
     *
     * @param monitoredSyscalls the target's syscalls of the monitored kinds that reached the session
     * @param breakpointsGone   the guest's code at every breakpoint address was as before the first session
     */
    record Sample(TraceMethod method, int run, List<Long> iterationMs, OverheadSnapshot overhead, long events,
                  long syscallEvents, long monitoredSyscalls, boolean breakpointsGone) {
    }

    public static void main(String[] args) throws Exception {
        Profile profile = Profile.DEFAULT;
        Integer runsArg = null;
        Integer iterationsArg = null;
        String vmArg = null;
        List<TraceMethod> methods = List.of(TraceMethod.values());
        boolean json = false;
        boolean keepVm = false;
        int pause = 1;
        Duration iterationTimeout = null;
        String append = "";
        boolean xen = false;
        Path console = null;
        Path out = null;
        Path hostLoad = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--paper" -> profile = Profile.PAPER;
                case "--runs" -> runsArg = positive("--runs", args[++i]);
                case "--iterations" -> iterationsArg = positive("--iterations", args[++i]);
                case "--vm" -> vmArg = args[++i];
                case "--methods" -> methods = Arrays.stream(args[++i].split(",")).map(String::trim)
                        .map(s -> s.toUpperCase(Locale.ROOT)).map(TraceMethod::valueOf).toList();
                case "--pause" -> pause = positive("--pause", args[++i]);
                case "--append" -> append = args[++i];
                case "--json" -> json = true;
                case "--keep-vm" -> keepVm = true;
                case "--platform" -> xen = switch (args[++i]) {
                    case "lab" -> false;
                    case "xen" -> true;
                    default -> throw new IllegalArgumentException("--platform must be lab or xen: " + args[i]);
                };
                case "--console" -> console = Path.of(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--host-load" -> hostLoad = Path.of(args[++i]);
                case "--iteration-timeout" -> iterationTimeout = Duration.ofMinutes(positive("--iteration-timeout",
                        args[++i]));
                case "--guest-spec" -> {
                    // for bench/overhead.sh, which starts the Xen lab's guest: the profile's guest, one line
                    System.out.printf(Locale.ROOT, "%s %d %s%n", profile.workload(), profile.memoryMib(),
                            profile.kernelParams());
                    return;
                }
                default -> {
                    System.err.println("usage: OverheadExperiment [--paper] [--runs N] [--iterations K] [--vm NAME] "
                            + "[--methods M1,M2,...] [--pause S] [--append \"KERNEL PARAMS\"] [--keep-vm] [--json] "
                            + "[--platform lab|xen] [--console FILE] [--out DIR] [--host-load FILE] "
                            + "[--iteration-timeout MINUTES] [--guest-spec]");
                    System.exit(2);
                }
            }
        }
        if (iterationTimeout == null) { // M3 on the Xen lab: a quarter of an hour per iteration of the paper's job
            iterationTimeout = Duration.ofMinutes(xen ? 60 : 15);
        }
        int runs = runsArg != null ? runsArg : profile.runs();
        int iterations = iterationsArg != null ? iterationsArg : profile.iterations();
        String vm = vmArg != null ? vmArg : System.getenv().getOrDefault("PERISCOPE_OVERHEAD_VM",
                profile == Profile.PAPER ? "overhead-paper-1" : "overhead-1");
        String kernelParams = (profile.kernelParams() + " " + append).strip();
        Path repo = Path.of(System.getProperty("periscope.repo", ".")).toAbsolutePath().normalize();
        Path var = LabDriver.defaultVarDir().toAbsolutePath();
        Path lab = repo.resolve("lab/lab.sh");
        if (console == null) {
            console = xen ? Path.of("/var/log/xen/console/guest-" + vm + ".log")
                    : var.resolve("lab").resolve(vm).resolve("console.log");
        }
        String platform = xen ? "xen" : "lab";
        Instant startedAt = Instant.now();
        String machine = (xen ? "Xen lab (PVH guest), measured in dom0: " : "QEMU lab (TCG guest): ") + machine()
                + hostLoad(hostLoad).map(l -> "; host load " + l + " at start").orElse("");
        log("machine: " + machine);
        log(String.format(Locale.ROOT, "profile %s: workload %s, %d MiB, 1 vCPU, kernel parameters \"%s\", target %s%s, "
                        + "%d round(s) x %d iteration(s)", profile.name(), profile.workload(), profile.memoryMib(),
                kernelParams, profile.target(), profile.children() ? " and its children" : " itself", runs, iterations));

        boolean started = false;
        if (xen) {
            log("tracing the running Xen domain " + vm + " (it must run the " + profile.workload()
                    + " workload with iterations=0)");
        } else if (!running(lab, vm)) {
            log("starting " + vm);
            run(List.of(lab.toString(), "start", vm, "--workload", profile.workload(), "--memory",
                    Integer.toString(profile.memoryMib()), "--append",
                    ("periscope.paper_iterations=0 periscope.paper_pause=" + pause + " " + kernelParams).strip()), 600);
            started = true;
        } else {
            log("reusing the running VM " + vm + " (it must run the " + profile.workload()
                    + " workload with iterations=0)");
        }
        List<Sample> samples = new ArrayList<>();
        boolean aliveAtEnd;
        try (HypervisorDriver driver = xen ? new XenDriver() : new LabDriver(var); VmiEngine engine = new VmiEngine(driver)) {
            ConsoleTail tail = new ConsoleTail(console);
            log("waiting for a warm-up iteration");
            tail.next(Duration.ofMinutes(10), () -> { }); // the first iteration after boot (or the one running) is discarded
            Map<String, byte[]> code = new HashMap<>();
            for (String symbol : BREAKPOINT_SYMBOLS) {
                code.put(symbol, engine.kernelCode(vm, symbol, 1));
            }
            // The first session of a JVM loads and compiles the trace path and opens the event ring (seconds in a
            // Xen lab dom0, competing with the guest for the host's cores): one untimed iteration under M5 pays it
            warmUp(engine, vm, profile, tail, iterationTimeout);
            for (int r = 1; r <= runs; r++) {
                for (int k = 0; k < methods.size(); k++) {
                    TraceMethod m = methods.get((k + r - 1) % methods.size());
                    Sample s = measure(engine, vm, profile, m, r, iterations, tail, iterationTimeout, code);
                    samples.add(s);
                    log(String.format(Locale.ROOT, "run %d %s: %s ms; %d syscalls to the monitor, %d monitored of the "
                                    + "target, %d CR3 records; vCPU wait %d ms; breakpoints gone: %s", r, m,
                            s.iterationMs(), s.overhead().syscallsDelivered(), s.monitoredSyscalls(),
                            s.overhead().cr3Delivered(), s.overhead().vcpuWait().toMillis(), s.breakpointsGone()));
                }
            }
            Iteration last = tail.next(iterationTimeout, () -> { });
            aliveAtEnd = engine.domain(vm).filter(DomainInfo::running).isPresent();
            log("after the last session: an untraced iteration of " + last.ms() + " ms, guest running: " + aliveAtEnd);
        } finally {
            if (started && !keepVm) {
                run(List.of(lab.toString(), "stop", vm), 60);
            }
        }
        OverheadReport report = OverheadReport.of(profile, platform, vm, kernelParams, runs, iterations, machine,
                startedAt, loadavg() + hostLoad(hostLoad).map(l -> "; host " + l).orElse(""), methods,
                summarize(samples, methods), samples, aliveAtEnd);
        String markdown = report.markdown();
        System.out.println(json ? report.json() : markdown);
        if (!json) {
            System.out.print(report.resultLines());
        }
        if (out != null) {
            Files.createDirectories(out);
            String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(startedAt);
            String base = stamp + "-" + platform + "-" + profile.name();
            Files.writeString(out.resolve(base + ".json"), report.json());
            Files.writeString(out.resolve(base + ".md"), markdown);
            log("saved " + out.resolve(base + ".json") + " and .md");
        }
        if (!report.checksPassed()) {
            log("FAILED: a guest died or a breakpoint byte was left in its code (see the checks above)");
            System.exit(1);
        }
    }

    private static int positive(String option, String value) {
        int v = Integer.parseInt(value);
        if (v < 1) {
            throw new IllegalArgumentException(option + " must be at least 1: " + value);
        }
        return v;
    }

    private static Sample measure(VmiEngine engine, String vm, Profile profile, TraceMethod m, int run, int iterations,
                                  ConsoleTail tail, Duration timeout, Map<String, byte[]> code)
            throws IOException, InterruptedException {
        AtomicLong events = new AtomicLong();
        AtomicLong syscalls = new AtomicLong();
        AtomicLong monitored = new AtomicLong();
        TraceRequest request = TraceRequest.process(profile.target()).withMethod(m).withChildren(profile.children())
                .withStrings(true);
        List<Long> times = new ArrayList<>();
        OverheadSnapshot overhead;
        try (TraceSession s = engine.trace(vm, request)) {
            long armedNs = System.nanoTime();
            Disposable d = s.events().subscribe(e -> {
                events.incrementAndGet();
                if (e instanceof TraceEvent.Syscall c) {
                    syscalls.incrementAndGet();
                    if (profile.monitors(c.name())) {
                        monitored.incrementAndGet();
                    }
                }
            });
            Runnable alive = () -> {
                if (s.ended()) {
                    throw new IllegalStateException(m + " session ended early: " + s.end().orElseThrow());
                }
            };
            OverheadSnapshot start = null; // the counters when the first counted iteration began
            while (times.size() < iterations) {
                Iteration it = tail.next(timeout, alive);
                // Opening a session takes milliseconds on the lab but seconds in a Xen lab dom0 (first vm_event
                // ring, a cold walk): an iteration that began before the session was armed ran partly unwatched and
                // is not counted, nor are its events (the next one begins after the workload's pause).
                if (it.startedNs() >= armedNs) {
                    times.add(it.ms());
                } else {
                    log(m + ": iteration of " + it.ms() + " ms began before the session was armed: not counted");
                    start = s.overhead();
                    events.set(0);
                    syscalls.set(0);
                    monitored.set(0);
                }
            }
            overhead = since(s.overhead(), start);
            d.dispose();
        }
        return new Sample(m, run, times, overhead, events.get(), syscalls.get(), monitored.get(),
                breakpointsGone(engine, vm, code, m + " run " + run));
    }

    /** What {@code end} counted since {@code start} (null: since the session began); the guests here have one vCPU. */
    static OverheadSnapshot since(OverheadSnapshot end, OverheadSnapshot start) {
        if (start == null) {
            return end;
        }
        Duration elapsed = end.elapsed().minus(start.elapsed());
        Duration wait = end.vcpuWait().minus(start.vcpuWait());
        return new OverheadSnapshot(end.at(), end.vm(), end.method(), elapsed,
                end.hypervisorSeen() - start.hypervisorSeen(), end.hypervisorFiltered() - start.hypervisorFiltered(),
                end.cr3Seen() - start.cr3Seen(), end.cr3Filtered() - start.cr3Filtered(),
                end.cr3Delivered() - start.cr3Delivered(), end.syscallsDelivered() - start.syscallsDelivered(),
                end.ringDropped() - start.ringDropped(), end.syscallsMatched() - start.syscallsMatched(),
                end.sessionEmitted() - start.sessionEmitted(), end.sessionDropped() - start.sessionDropped(), wait,
                end.syncTimeouts() - start.syncTimeouts(),
                elapsed.isZero() ? 0 : (double) wait.toNanos() / elapsed.toNanos(),
                end.translationFlushes() - start.translationFlushes(),
                end.processRefreshes() - start.processRefreshes(),
                end.processRefreshTime().minus(start.processRefreshTime()),
                end.exitsDelivered() - start.exitsDelivered(), end.exitsPaired() - start.exitsPaired(),
                end.exitsUnmatched() - start.exitsUnmatched(), end.exitsLost() - start.exitsLost());
    }

    private static void warmUp(VmiEngine engine, String vm, Profile profile, ConsoleTail tail, Duration timeout)
            throws IOException, InterruptedException {
        try (TraceSession s = engine.trace(vm, TraceRequest.process(profile.target()).withMethod(TraceMethod.M5)
                .withChildren(profile.children()).withStrings(true))) {
            Disposable d = s.events().subscribe(e -> { });
            log("warm-up: an untimed iteration of " + tail.next(timeout, () -> { }).ms() + " ms under M5");
            d.dispose();
        }
    }

    /**
     * Whether the guest's code at every breakpoint address is back to what it was before the first session. Closing a
     * session returns at once; the ring thread and the hypervisor extension take the breakpoints down after it (on
     * Xen the shim's event thread, a domctl away), so this waits for that, bounded.
     */
    private static boolean breakpointsGone(VmiEngine engine, String vm, Map<String, byte[]> code, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + BREAKPOINT_TEARDOWN.toNanos();
        while (true) {
            List<String> left = new ArrayList<>();
            for (Map.Entry<String, byte[]> e : code.entrySet()) {
                byte now = engine.kernelCode(vm, e.getKey(), 1)[0];
                if (now != e.getValue()[0] || now == INT3) {
                    left.add(String.format(Locale.ROOT, "%s holds 0x%02x (0x%02x before)", e.getKey(), now,
                            e.getValue()[0]));
                }
            }
            if (left.isEmpty()) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                log(what + ": " + BREAKPOINT_TEARDOWN.toSeconds() + " s after the session: " + left);
                return false;
            }
            Thread.sleep(200);
        }
    }

    static List<OverheadReport.Summary> summarize(List<Sample> samples, List<TraceMethod> methods) {
        Map<TraceMethod, List<Sample>> by = new EnumMap<>(TraceMethod.class);
        for (Sample s : samples) {
            by.computeIfAbsent(s.method(), k -> new ArrayList<>()).add(s);
        }
        Map<Integer, Double> baseByRun = new HashMap<>();
        for (Sample s : by.getOrDefault(TraceMethod.M1, List.of())) {
            baseByRun.put(s.run(), s.iterationMs().stream().mapToLong(Long::longValue).average().orElse(Double.NaN));
        }
        List<OverheadReport.Summary> out = new ArrayList<>();
        for (TraceMethod m : methods) {
            List<Sample> ss = by.getOrDefault(m, List.of());
            if (ss.isEmpty()) {
                continue;
            }
            List<Long> all = ss.stream().flatMap(s -> s.iterationMs().stream()).toList();
            double mean = all.stream().mapToLong(Long::longValue).average().orElse(Double.NaN);
            double var = all.stream().mapToDouble(x -> (x - mean) * (x - mean)).sum() / Math.max(1, all.size() - 1);
            int n = all.size();
            // paired: each round's iterations against the same round's M1 (rounds interleave the methods, so
            // slow drifts of the shared host cancel), then the median over rounds
            double[] ratios = ss.stream().filter(x -> baseByRun.containsKey(x.run()))
                    .mapToDouble(x -> (x.iterationMs().stream().mapToLong(Long::longValue).average().orElse(0)
                            / baseByRun.get(x.run()) - 1) * 100).sorted().toArray();
            double overhead = ratios.length == 0 ? Double.NaN : ratios.length % 2 == 1 ? ratios[ratios.length / 2]
                    : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
            out.add(new OverheadReport.Summary(m, n, mean, Math.sqrt(var),
                    all.stream().mapToLong(Long::longValue).min().orElse(0),
                    all.stream().mapToLong(Long::longValue).max().orElse(0), overhead,
                    ratios.length == 0 ? Double.NaN : ratios[0], ratios.length == 0 ? Double.NaN : ratios[ratios.length - 1],
                    per(ss, n, o -> o.syscallsDelivered()), per(ss, n, o -> o.syscallsMatched()),
                    ss.stream().mapToLong(Sample::monitoredSyscalls).sum() / (double) Math.max(1, n),
                    per(ss, n, o -> o.cr3Seen()), per(ss, n, o -> o.cr3Delivered()), per(ss, n, o -> o.cr3Filtered()),
                    per(ss, n, o -> o.hypervisorSeen()), per(ss, n, o -> o.hypervisorFiltered()),
                    per(ss, n, o -> o.vcpuWait().toNanos()) / 1e6, per(ss, n, o -> o.syncTimeouts()),
                    per(ss, n, o -> o.ringDropped() + o.sessionDropped()),
                    ss.stream().mapToDouble(s -> s.overhead().estimatedSlowdown()).average().orElse(0) * 100,
                    per(ss, n, o -> o.processRefreshes()), per(ss, n, o -> o.processRefreshTime().toNanos()) / 1e6));
        }
        return out;
    }

    private static double per(List<Sample> ss, int iterations, ToLongFunction<OverheadSnapshot> f) {
        return ss.stream().mapToLong(s -> f.applyAsLong(s.overhead())).sum() / (double) Math.max(1, iterations);
    }

    /**
     * One iteration line: its time as the guest measured it and when it began on the host's clock (when the line
     * arrived less the duration; late by the console's latency, tens of milliseconds).
     */
    record Iteration(long ms, long startedNs) {
    }

    /** Follows the VM's console log for iteration lines written after it was opened. */
    static final class ConsoleTail {
        private final Path file;
        private long offset;
        private final StringBuilder partial = new StringBuilder();

        ConsoleTail(Path file) throws IOException {
            this.file = file;
            this.offset = Files.exists(file) ? Files.size(file) : 0;
        }

        /** The next iteration line (blocks). */
        Iteration next(Duration timeout, Runnable check) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                check.run();
                try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
                    if (f.length() > offset) {
                        f.seek(offset);
                        byte[] b = new byte[(int) (f.length() - offset)];
                        f.readFully(b);
                        offset += b.length;
                        partial.append(new String(b, StandardCharsets.ISO_8859_1));
                    }
                }
                int nl;
                while ((nl = partial.indexOf("\n")) >= 0) {
                    String line = partial.substring(0, nl);
                    partial.delete(0, nl + 1);
                    Matcher m = ITERATION.matcher(line);
                    if (m.find()) {
                        long ms = Long.parseLong(m.group(2));
                        return new Iteration(ms, System.nanoTime() - ms * 1_000_000L);
                    }
                }
                Thread.sleep(20);
            }
            throw new IllegalStateException("no PERISCOPE-PAPER line in " + file + " within " + timeout);
        }
    }

    private static boolean running(Path lab, String vm) throws IOException, InterruptedException {
        String out = run(List.of(lab.toString(), "list"), 30);
        return out.lines().anyMatch(l -> l.startsWith(vm + " ") && l.contains(" running "));
    }

    private static String run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed:\n" + new String(out, StandardCharsets.UTF_8));
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    static String machine() {
        String cpu = "?";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("?");
        } catch (IOException ignored) {
            // not Linux
        }
        long qemus = ProcessHandle.allProcesses().filter(h -> {
            try {
                return Files.readString(Path.of("/proc/" + h.pid() + "/comm")).startsWith("qemu-system");
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }).count();
        return String.format(Locale.ROOT, "%d x %s, %d MiB RAM, %s; %d QEMU guests on the host; load %s at start",
                Runtime.getRuntime().availableProcessors(), cpu, memoryMib(), System.getProperty("java.vm.version"), qemus,
                loadavg());
    }

    private static long memoryMib() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal"))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", "")) / 1024).findFirst().orElse(0);
        } catch (IOException e) {
            return 0;
        }
    }

    static String loadavg() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }

    /** The host's machine and load line the host keeps writing into {@code file} (for a run in dom0). */
    private static Optional<String> hostLoad(Path file) {
        if (file == null) {
            return Optional.empty();
        }
        try {
            return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).map(String::strip);
        } catch (IOException e) {
            return Optional.of("unknown (" + file + " unreadable)");
        }
    }

    private static void log(String s) {
        System.err.println("overhead: " + s);
    }
}
