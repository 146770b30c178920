package dev.periscope.bench.faults;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Runs the faults ({@link #faults()}) against the real parts and writes what happened: {@code faults.json} and the
 * table rows of docs/RELIABILITY.md ({@code faults.md}) in the output directory. Each fault runs its repetitions; the
 * processes that live through it are measured after its first repetition (a warm-up of its own when there is only
 * one) and again, settled, after its last.
 *
 * <p>Usage: {@code FaultSuite [--repetitions N] [--only NAME,...] [--out DIR] [--seed S]}; the system property
 * {@code periscope.lab.skip=true} leaves out the faults that boot lab guests. Exit code 1 when an expectation broke.
 */
public final class FaultSuite {

    /**
     * @param repetitions per fault
     * @param only        the faults to run by name; all when empty
     * @param out         where the results go
     * @param lab         whether faults that boot lab guests run
     * @param seed        of every random choice
     */
    record Options(int repetitions, Set<String> only, Path out, boolean lab, long seed) {
    }

    private FaultSuite() {
    }

    public static void main(String[] argv) {
        Map<String, String> a = new LinkedHashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("usage: FaultSuite [--repetitions N] [--only NAME,...] [--out DIR]");
            }
            a.put(argv[i].substring(2), argv[i + 1]);
        }
        Path repo = repo();
        Options options = new Options(Integer.parseInt(a.getOrDefault("repetitions", "100")),
                a.containsKey("only") ? Set.of(a.get("only").split(",")) : Set.of(),
                Path.of(a.getOrDefault("out", repo.resolve("var/bench/faults").toString())),
                !Boolean.getBoolean("periscope.lab.skip"), Long.parseLong(a.getOrDefault("seed",
                Long.toString(System.currentTimeMillis()))));
        List<FaultResult> results = run(options);
        System.exit(results.stream().allMatch(FaultResult::ok) ? 0 : 1);
    }

    static Path repo() {
        return Path.of(System.getProperty("periscope.repo", System.getProperty("user.dir"))).toAbsolutePath().normalize();
    }

    /** Every fault, in the order they run (the lab's first: each boots and kills its own guests). */
    static List<Fault> faults() {
        return List.of(new QemuKill(QemuKill.During.PROCESS_LIST), new QemuKill(QemuKill.During.SNAPSHOT),
                new QemuKill(QemuKill.During.TRACE), new AgentStall(), new AgentRestart(), new ServerRestart(),
                new RingOverflow(), new SlowClient(), new SessionEnds(), new DatabaseRestart(), new DiskFull());
    }

    static List<FaultResult> run(Options options) {
        List<Fault> chosen = faults().stream().filter(f -> options.only().isEmpty() || options.only().contains(f.name()))
                .toList();
        if (!options.only().isEmpty() && chosen.size() != options.only().size()) {
            throw new IllegalArgumentException("unknown fault in " + options.only() + "; the faults are "
                    + faults().stream().map(Fault::name).toList());
        }
        List<FaultResult> results = new ArrayList<>();
        Path work;
        try {
            work = Files.createTempDirectory("periscope-faults-");
            Files.createDirectories(options.out());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        System.out.printf("faults: %d repetitions of %s; seed %d; work in %s%n", options.repetitions(),
                chosen.stream().map(Fault::name).toList(), options.seed(), work);
        try (Stage stage = new Stage(repo(), work, options.lab(), options.seed(), options.repetitions())) {
            for (Fault f : chosen) {
                results.add(run(stage, f, options.repetitions()));
                write(options, results);
            }
        }
        System.out.println(table(results));
        System.out.println("faults: results in " + options.out());
        return results;
    }

    /** Runs {@code f} {@code repetitions} times on {@code stage} (or says why it cannot run here). */
    static FaultResult run(Stage stage, Fault f, int repetitions) {
        FaultResult r = new FaultResult(f);
        var unavailable = f.unavailable(stage);
        if (unavailable.isPresent()) {
            System.out.println("faults: " + f.name() + " skipped: " + unavailable.get());
            r.skipped(unavailable.get());
            return r;
        }
        long t0 = System.nanoTime();
        try {
            f.prepare(stage);
            List<Fault.Watched> watched = List.of();
            Map<String, Resources> before = new LinkedHashMap<>();
            // Resources are compared from after a first repetition, which warms everything up (a VM's memory and
            // ring mapped by the agent, pools started), to after the last; a single repetition gets a first one of
            // its own for that, not counted.
            int first = repetitions < 2 ? 0 : 1;
            for (int i = first; i <= repetitions; i++) {
                if (i == first + 1) {
                    watched = f.watched(stage);
                    for (Fault.Watched w : watched) {
                        before.put(w.label(), Resources.of(w.pid(), stage.shmPrefix()));
                    }
                }
                Observation o;
                try {
                    o = f.once(stage, Math.max(1, i));
                } catch (Exception | AssertionError e) {
                    e.printStackTrace(System.out);
                    o = new Observation().sees("the repetition failed").expect(false, e.toString());
                }
                if (i == 0) {
                    System.out.printf("faults: %s warm-up: %s%n", f.name(), o.userSees());
                    continue;
                }
                r.add(i, o);
                System.out.printf("faults: %s %d/%d: %s%s%n", f.name(), i, repetitions, o.userSees(),
                        o.violations().isEmpty() ? "" : " VIOLATIONS " + o.violations());
            }
            Duration patience = Duration.ofSeconds(repetitions >= 10 ? 90 : 20);
            for (Fault.Watched w : watched) {
                if (ProcessHandle.of(w.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                    r.resources(w.label(), before.get(w.label()), Resources.settled(w.pid(), before.get(w.label()),
                            stage.shmPrefix(), patience));
                } else {
                    r.violation(w.label() + " (pid " + w.pid() + ") did not live through the repetitions");
                }
            }
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            r.violation("the fault could not run: " + e);
        } finally {
            try {
                f.finish(stage);
            } catch (RuntimeException e) {
                r.violation("cleaning up failed: " + e);
            }
            r.seconds((System.nanoTime() - t0) / 1e9);
        }
        return r;
    }

    private static void write(Options options, List<FaultResult> results) {
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("when", Instant.now().toString());
        all.put("repetitions", options.repetitions());
        all.put("seed", options.seed());
        all.put("machine", machine());
        all.put("faults", results.stream().map(FaultResult::json).toList());
        try {
            Files.writeString(options.out().resolve("faults.json"), Api.JSON.writerWithDefaultPrettyPrinter()
                    .writeValueAsString(all));
            Files.writeString(options.out().resolve("faults.md"), table(results) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String table(List<FaultResult> results) {
        return "| fault | what the user sees | lost (counted) | leaks after N repetitions (before → after) | command |\n"
                + "|---|---|---|---|---|\n" + results.stream()
                .map(r -> r.markdownRow("./periscope bench faults --only " + r.fault.name()))
                .collect(Collectors.joining("\n"));
    }

    private static String machine() {
        try {
            String cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).strip()).orElse("?");
            return Runtime.getRuntime().availableProcessors() + " x " + cpu + "; load "
                    + Arrays.stream(Files.readString(Path.of("/proc/loadavg")).split(" ")).limit(3)
                    .collect(Collectors.joining(" "));
        } catch (IOException e) {
            return "?";
        }
    }
}
