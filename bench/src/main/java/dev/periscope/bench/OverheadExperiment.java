package dev.periscope.bench;

import dev.periscope.vmi.VmiEngine;
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
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import reactor.core.Disposable;

/**
 * The five-method experiment (docs/ARCHITECTURE.md, "Traces and the five methods"), after Taubmann and Reiser
 * (DAIS 2020, Table 1): one lab VM runs the {@code paper} workload forever (paper-shell unpacks an archive and runs CPU- and
 * syscall-heavy children on it, busy processes run beside it; the guest times each iteration itself and prints
 * {@code PERISCOPE-PAPER iteration=N ms=M} on its console). For each run and each method the runner starts a
 * trace of {@code paper-shell} and its children right after an iteration ended (in the workload's pause), lets
 * {@code --iterations} iterations run under it, reads their times from the console log and the session's
 * overhead counters, and closes the session. Methods are interleaved run by run so that host noise spreads over
 * all of them. Prints a table (or {@code --json}): mean iteration time, overhead vs M1, syscalls and CR3 events
 * delivered to Java and filtered in the hypervisor, vCPU time spent waiting for Java.
 *
 * <pre>
 * bench/overhead.sh [--runs N] [--iterations K] [--vm NAME] [--methods M1,M2,...] [--keep-vm] [--json]
 * </pre>
 *
 * <p>With {@code --platform xen} it runs inside dom0 of the Xen lab against a domU that already runs the paper
 * workload (lab/xen/test.sh starts it), through the Xen driver and its vm_event monitor, and reads the iteration
 * lines from xenconsoled's log of the domU ({@code --console FILE}, default
 * {@code /var/log/xen/console/guest-NAME.log}). {@code --iteration-timeout MINUTES} (default 15) bounds the wait for
 * one iteration: M3 on the Xen lab takes longer.
 */
public final class OverheadExperiment {

    private static final Pattern ITERATION = Pattern.compile("PERISCOPE-PAPER iteration=(\\d+) ms=(\\d+)");

    record Sample(TraceMethod method, int run, List<Long> iterationMs, OverheadSnapshot overhead, long events,
                  long syscallEvents) {
    }

    record Summary(TraceMethod method, int iterations, double meanMs, double stdevMs, double overheadPct,
                   double syscallsDelivered, double syscallsMatched, double cr3Seen, double cr3Delivered,
                   double cr3Filtered, double hypervisorFiltered, double vcpuWaitMs, double syncTimeouts,
                   double dropped, double estimatedSlowdownPct, double walks, double walkMs) {
    }

    public static void main(String[] args) throws Exception {
        int runs = 3;
        int iterations = 1;
        String vm = System.getenv().getOrDefault("PERISCOPE_OVERHEAD_VM", "overhead-1");
        List<TraceMethod> methods = List.of(TraceMethod.values());
        boolean json = false;
        boolean keepVm = false;
        int pause = 1;
        Duration iterationTimeout = Duration.ofMinutes(15);
        String append = "";
        boolean xen = false;
        Path console = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                case "--vm" -> vm = args[++i];
                case "--methods" -> methods = java.util.Arrays.stream(args[++i].split(",")).map(String::trim)
                        .map(String::toUpperCase).map(TraceMethod::valueOf).toList();
                case "--pause" -> pause = Integer.parseInt(args[++i]);
                case "--append" -> append = args[++i];
                case "--json" -> json = true;
                case "--keep-vm" -> keepVm = true;
                case "--platform" -> xen = switch (args[++i]) {
                    case "lab" -> false;
                    case "xen" -> true;
                    default -> throw new IllegalArgumentException("--platform must be lab or xen: " + args[i]);
                };
                case "--console" -> console = Path.of(args[++i]);
                case "--iteration-timeout" -> iterationTimeout = Duration.ofMinutes(Long.parseLong(args[++i]));
                default -> {
                    System.err.println("usage: overhead.sh [--runs N] [--iterations K] [--vm NAME] "
                            + "[--methods M1,M2,...] [--pause S] [--append \"KERNEL PARAMS\"] [--keep-vm] [--json] "
                            + "[--platform lab|xen] [--console FILE]");
                    System.exit(2);
                }
            }
        }
        Path repo = Path.of(System.getProperty("periscope.repo", ".")).toAbsolutePath().normalize();
        Path var = LabDriver.defaultVarDir().toAbsolutePath();
        Path lab = repo.resolve("lab/lab.sh");
        if (console == null) {
            console = xen ? Path.of("/var/log/xen/console/guest-" + vm + ".log")
                    : var.resolve("lab").resolve(vm).resolve("console.log");
        }
        String machine = (xen ? "Xen lab, in dom0: " : "") + machine()
                + (append.isEmpty() ? "" : "; guest kernel parameters: " + append);
        log("machine: " + machine.replace("\n", "; "));

        boolean started = false;
        if (xen) {
            log("tracing the running Xen domain " + vm + " (it must run the paper workload with iterations=0)");
        } else if (!running(lab, vm)) {
            log("starting " + vm + " (paper workload, endless, pause " + pause + " s" + (append.isEmpty() ? "" : ", " + append) + ")");
            run(List.of(lab.toString(), "start", vm, "--workload", "paper", "--append",
                    ("periscope.paper_iterations=0 periscope.paper_pause=" + pause + " " + append).strip()), 300);
            started = true;
        } else {
            log("reusing the running VM " + vm + " (it must run the paper workload with iterations=0)");
        }
        List<Sample> samples = new ArrayList<>();
        try (HypervisorDriver driver = xen ? new XenDriver() : new LabDriver(var); VmiEngine engine = new VmiEngine(driver)) {
            ConsoleTail tail = new ConsoleTail(console);
            log("waiting for a warm-up iteration");
            tail.next(Duration.ofMinutes(5), () -> { }); // the first iteration after boot (or the one running) is discarded
            for (int r = 1; r <= runs; r++) {
                for (TraceMethod m : methods) {
                    samples.add(measure(engine, vm, m, r, iterations, tail, iterationTimeout));
                    Sample s = samples.getLast();
                    log(String.format(Locale.ROOT, "run %d %s: %s ms; %d syscalls to Java, %d CR3 records, "
                                    + "vCPU wait %d ms", r, m, s.iterationMs(), s.overhead().syscallsDelivered(),
                            s.overhead().cr3Delivered(), s.overhead().vcpuWait().toMillis()));
                }
            }
        } finally {
            if (started && !keepVm) {
                run(List.of(lab.toString(), "stop", vm), 60);
            }
        }
        List<Summary> summary = summarize(samples, methods);
        String loadEnd = loadavg();
        if (json) {
            System.out.println(json(summary, samples, machine, loadEnd, runs, iterations));
        } else {
            System.out.println(table(summary, machine, loadEnd, runs, iterations));
        }
    }

    private static Sample measure(VmiEngine engine, String vm, TraceMethod m, int run, int iterations,
                                  ConsoleTail tail, Duration timeout) throws IOException, InterruptedException {
        AtomicLong events = new AtomicLong();
        AtomicLong syscalls = new AtomicLong();
        TraceRequest request = TraceRequest.process("paper-shell").withMethod(m).withChildren(true).withStrings(true);
        List<Long> times = new ArrayList<>();
        OverheadSnapshot overhead;
        try (TraceSession s = engine.trace(vm, request)) {
            long armedNs = System.nanoTime();
            Disposable d = s.events().subscribe(e -> {
                events.incrementAndGet();
                if (e instanceof TraceEvent.Syscall) {
                    syscalls.incrementAndGet();
                }
            });
            Runnable alive = () -> {
                if (s.ended()) {
                    throw new IllegalStateException(m + " session ended early: " + s.end().orElseThrow());
                }
            };
            while (times.size() < iterations) {
                Iteration it = tail.next(timeout, alive);
                // Opening a session takes milliseconds on the lab but seconds in a Xen lab dom0 (first vm_event
                // ring, a cold walk): an iteration that began before the session was armed ran partly unwatched.
                if (it.startedNs() >= armedNs) {
                    times.add(it.ms());
                } else {
                    log(m + ": iteration of " + it.ms() + " ms began before the session was armed: not counted");
                }
            }
            overhead = s.overhead();
            d.dispose();
        }
        return new Sample(m, run, times, overhead, events.get(), syscalls.get());
    }

    static List<Summary> summarize(List<Sample> samples, List<TraceMethod> methods) {
        Map<TraceMethod, List<Sample>> by = new EnumMap<>(TraceMethod.class);
        for (Sample s : samples) {
            by.computeIfAbsent(s.method(), k -> new ArrayList<>()).add(s);
        }
        Map<Integer, Double> baseByRun = new java.util.HashMap<>();
        for (Sample s : by.getOrDefault(TraceMethod.M1, List.of())) {
            baseByRun.put(s.run(), s.iterationMs().stream().mapToLong(Long::longValue).average().orElse(Double.NaN));
        }
        List<Summary> out = new ArrayList<>();
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
            out.add(new Summary(m, n, mean, Math.sqrt(var), overhead,
                    per(ss, n, o -> o.syscallsDelivered()), per(ss, n, o -> o.syscallsMatched()),
                    per(ss, n, o -> o.cr3Seen()), per(ss, n, o -> o.cr3Delivered()), per(ss, n, o -> o.cr3Filtered()),
                    per(ss, n, o -> o.hypervisorFiltered()), per(ss, n, o -> o.vcpuWait().toNanos()) / 1e6,
                    per(ss, n, o -> o.syncTimeouts()), per(ss, n, o -> o.ringDropped() + o.sessionDropped()),
                    ss.stream().mapToDouble(s -> s.overhead().estimatedSlowdown()).average().orElse(0) * 100,
                    per(ss, n, o -> o.processRefreshes()), per(ss, n, o -> o.processRefreshTime().toNanos()) / 1e6));
        }
        return out;
    }

    private static double per(List<Sample> ss, int iterations, java.util.function.ToLongFunction<OverheadSnapshot> f) {
        return ss.stream().mapToLong(s -> f.applyAsLong(s.overhead())).sum() / (double) Math.max(1, iterations);
    }

    static String table(List<Summary> rows, String machine, String loadEnd, int runs, int iterations) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%nMonitoring methods on the paper workload: %d run(s) x %d iteration(s) per "
                + "method, values per iteration%n", runs, iterations));
        b.append(String.format(Locale.ROOT, "%-4s %5s %10s %9s %10s %10s %9s %9s %10s %11s %10s %8s %8s %13s%n", "", "n",
                "mean ms", "stdev", "overhead", "syscalls", "traced", "CR3 seen", "CR3 to J", "CR3 filt.",
                "vCPU wait", "timeouts", "dropped", "walks"));
        for (Summary s : rows) {
            b.append(String.format(Locale.ROOT, "%-4s %5d %10.0f %9.0f %9.1f%% %10.0f %9.0f %9.0f %10.0f %11.0f %8.0f ms %8.0f %8.0f %4.0f/%5.0f ms%n",
                    s.method(), s.iterations(), s.meanMs(), s.stdevMs(), s.overheadPct(), s.syscallsDelivered(),
                    s.syscallsMatched(), s.cr3Seen(), s.cr3Delivered(), s.cr3Filtered(), s.vcpuWaitMs(),
                    s.syncTimeouts(), s.dropped(), s.walks(), s.walkMs()));
        }
        Summary m3 = rows.stream().filter(s -> s.method() == TraceMethod.M3).findFirst().orElse(null);
        Summary m4 = rows.stream().filter(s -> s.method() == TraceMethod.M4).findFirst().orElse(null);
        if (m3 != null && m4 != null) {
            b.append(String.format(Locale.ROOT, "M3/M4 overhead ratio: %.1fx (target >= 18x); M3/M4 CR3 events to Java: "
                    + "%.0fx%n", m3.overheadPct() / m4.overheadPct(), m3.cr3Delivered() / Math.max(1, m4.cr3Delivered())));
        }
        rows.stream().filter(s -> s.method() == TraceMethod.M5).findFirst().ifPresent(m5 -> b.append(String.format(
                Locale.ROOT, "M5 overhead: %.1f%% (target <= 5%%)%n", m5.overheadPct())));
        b.append("overhead = median over rounds of (round's mean iteration time / same round's M1) - 1\n");
        b.append("columns: syscalls = syscall records that reached Java (all processes); traced = those of the traced "
                + "processes;\n  CR3 seen = CR3 writes the hypervisor saw, to J = delivered to Java, filt. = filtered in "
                + "the hypervisor;\n  vCPU wait = time the guest's vCPU waited for Java; walks = process-list walks "
                + "by the ring thread / their host time\n");
        b.append("machine: ").append(machine.replace("\n", "\n         ")).append("\nload at end: ").append(loadEnd)
                .append('\n');
        return b.toString();
    }

    static String json(List<Summary> rows, List<Sample> samples, String machine, String loadEnd, int runs,
                       int iterations) {
        StringBuilder b = new StringBuilder("{\n  \"runs\": ").append(runs).append(",\n  \"iterationsPerRun\": ")
                .append(iterations).append(",\n  \"machine\": ").append(quote(machine)).append(",\n  \"loadAtEnd\": ")
                .append(quote(loadEnd)).append(",\n  \"methods\": [");
        for (int i = 0; i < rows.size(); i++) {
            Summary s = rows.get(i);
            b.append(i == 0 ? "\n" : ",\n").append(String.format(Locale.ROOT,
                    "    {\"method\": \"%s\", \"description\": %s, \"iterations\": %d, \"meanMs\": %.1f, \"stdevMs\": %.1f, "
                            + "\"overheadPct\": %.2f, \"syscallsDelivered\": %.1f, \"syscallsTraced\": %.1f, "
                            + "\"cr3Seen\": %.1f, \"cr3Delivered\": %.1f, \"cr3Filtered\": %.1f, "
                            + "\"hypervisorFiltered\": %.1f, \"vcpuWaitMs\": %.1f, \"syncTimeouts\": %.1f, "
                            + "\"dropped\": %.1f, \"estimatedSlowdownPct\": %.2f, \"processWalks\": %.1f, "
                            + "\"processWalkMs\": %.1f}",
                    s.method(), quote(s.method().description()), s.iterations(), s.meanMs(), s.stdevMs(),
                    s.overheadPct(), s.syscallsDelivered(), s.syscallsMatched(), s.cr3Seen(), s.cr3Delivered(),
                    s.cr3Filtered(), s.hypervisorFiltered(), s.vcpuWaitMs(), s.syncTimeouts(), s.dropped(),
                    s.estimatedSlowdownPct(), s.walks(), s.walkMs()));
        }
        b.append("\n  ],\n  \"samples\": [");
        for (int i = 0; i < samples.size(); i++) {
            Sample s = samples.get(i);
            b.append(i == 0 ? "\n" : ",\n").append(String.format(Locale.ROOT,
                    "    {\"method\": \"%s\", \"run\": %d, \"iterationMs\": %s, \"events\": %d, \"overhead\": %s}",
                    s.method(), s.run(), s.iterationMs(), s.events(), quote(s.overhead().toString())));
        }
        return b.append("\n  ]\n}").toString();
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
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

    private static void log(String s) {
        System.err.println("overhead: " + s);
    }
}
