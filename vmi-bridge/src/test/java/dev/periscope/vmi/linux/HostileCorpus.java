package dev.periscope.vmi.linux;

import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.lab.LabVm;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.memory.MappedPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The hostile guest corpus: builds each base image (a synthetic guest, Debian's kernels laid out as RAM, dumps of
 * lab guests' RAM), applies every case of {@link HostileCases} to a copy-on-write overlay of it, runs the engine
 * (kernel discovery when the case asks for it, then the process list) on a thread of its own, and classifies
 * what happened against the case's accepted outcomes, time bound and memory bound (bytes the thread allocated).
 *
 * <p>{@link HostileCorpusTest} runs every case on every base available here and writes the table that
 * docs/RELIABILITY.md quotes to {@code target/hostile-corpus.md}; lab dumps are made by {@link HostileLabTest}
 * (with {@link #dumpLabGuest}) into {@code var/cache/hostile/}.
 */
final class HostileCorpus {

    /** Where lab guests' RAM images are kept (git-ignored cache). */
    static final Path DUMPS = LabVm.varDir().resolve("cache/hostile");
    /** Wall-clock time after which a case is abandoned as a hang (a thread blocked forever uses no CPU). */
    private static final Duration ABANDON = Duration.ofMinutes(5);

    /**
     * A clean base image and what the engine reads from it.
     *
     * @param id       short name used as the case name prefix (syn, img61, lab612, ...)
     * @param truth    the process list of the clean image: what every case is compared with
     * @param runningCr3 a CR3 the guest's vCPU ran with, when the base has one (lab dumps, the relocated image):
     *                 discovery is given it as the engine gives it a live VM's
     */
    record BaseImage(String id, HostileCase.Base kind, PhysicalMemory memory, KernelProfile profile,
                     LinuxModel.Processes truth, SyntheticGuest synthetic, OptionalLong runningCr3) {

        HostileImage image() {
            return new HostileImage(kind, memory, profile, truth, synthetic);
        }
    }

    /**
     * What one case did.
     *
     * @param time           CPU time of the engine's thread: the bound is on it, so a busy machine (other guests
     *                       and builds on the same cores) cannot turn a correct run into a "hang"
     * @param allocatedBytes bytes that thread allocated
     */
    record Result(HostileCase hostileCase, HostileCase.Outcome outcome, String detail, Duration time,
                  long allocatedBytes) {

        boolean acceptable() {
            return hostileCase.accepted().contains(outcome);
        }
    }

    private HostileCorpus() {
    }

    static BaseImage synthetic() {
        SyntheticGuest g = SyntheticGuest.standard();
        g.publishPidTable();
        KernelProfile profile = g.profile();
        return new BaseImage("syn", HostileCase.Base.SYNTHETIC, g.memory, profile,
                LinuxModel.processes(g.memory, profile), g, OptionalLong.empty());
    }

    /** A synthetic guest whose processes hold more argv than one walk reads. */
    static BaseImage syntheticFlood() {
        SyntheticGuest g = SyntheticGuest.argvFlood(5000);
        g.publishPidTable();
        KernelProfile profile = g.profile();
        return new BaseImage("synflood", HostileCase.Base.SYNTHETIC, g.memory, profile,
                LinuxModel.processes(g.memory, profile), g, OptionalLong.empty());
    }

    /** Debian's vmlinux of {@code kernelPackage} laid out as a never-booted guest's RAM; empty if unobtainable. */
    static Optional<BaseImage> kernelImage(String id, String kernelPackage) {
        return RealKernels.vmlinux(kernelPackage).map(elf -> {
            PhysicalMemory memory = RealKernels.asPhysicalMemory(elf, 1 << 20);
            KernelProfile profile = LinuxModel.profile(memory, new KernelProfileCache());
            return new BaseImage(id, HostileCase.Base.KERNEL_IMAGE, memory, profile,
                    LinuxModel.processes(memory, profile), null, OptionalLong.empty());
        });
    }

    /**
     * The 6.1 kernel image loaded {@code offsetMiB} higher in a larger RAM, as a boot loader relocates it
     * ({@code phys_base} set accordingly): room below the kernel for memory a scan meets first.
     */
    static Optional<BaseImage> relocatedKernelImage(String id, int offsetMiB) {
        return RealKernels.vmlinux(RealKernels.DEFAULT).map(elf -> {
            PhysicalMemory image = RealKernels.asPhysicalMemory(elf, 1 << 20);
            KernelProfile at0 = LinuxModel.profile(image, new KernelProfileCache());
            long offset = (long) offsetMiB << 20;
            byte[] ram = new byte[Math.toIntExact(image.size() + offset)];
            image.read(0, ram, (int) offset, (int) image.size());
            ByteArrayPhysicalMemory memory = new ByteArrayPhysicalMemory(ram);
            relocate(memory, at0, offset, 0, image.size(), offset);
            KernelProfile profile = LinuxModel.profile(memory, new KernelProfileCache());
            return new BaseImage(id, HostileCase.Base.KERNEL_IMAGE, memory, profile,
                    LinuxModel.processes(memory, profile), null, OptionalLong.of(profile.kernelDtb()));
        });
    }

    /** The kernel's early page tables, which a boot loader's relocation (and __startup_64) fix up. */
    private static final List<String> EARLY_PAGE_TABLES = List.of("init_top_pgt", "level3_kernel_pgt",
            "level2_kernel_pgt", "level2_fixmap_pgt", "level1_fixmap_pgt", "level3_ident_pgt", "level2_ident_pgt");

    /**
     * Fixes up an image copied {@code delta} bytes away, as the kernel's own start-up does for a relocated load:
     * phys_base, and every early page-table entry naming a frame in {@code [from, from + size)}. {@code imageAt}
     * is where the image now lies (its tables are read there); {@code linked} describes the image's symbols.
     */
    static void relocate(ByteArrayPhysicalMemory memory, KernelProfile linked, long imageAt, long from, long size,
                         long delta) {
        long linkedBase = linked.physBase();
        memory.writeLong(linked.imagePhysical(linked.symbols().address("phys_base").orElseThrow()) - linkedBase
                + imageAt, linkedBase + delta);
        for (String table : EARLY_PAGE_TABLES) {
            var symbol = linked.symbols().address(table);
            if (symbol.isEmpty()) {
                continue;
            }
            long at = linked.imagePhysical(symbol.getAsLong()) - linkedBase + imageAt;
            for (int i = 0; i < 512; i++) {
                long entry = memory.readLong(at + 8L * i);
                long frame = entry & 0x000F_FFFF_FFFF_F000L;
                if ((entry & 1) != 0 && frame >= from && frame < from + size) {
                    memory.writeLong(at + 8L * i, entry + delta);
                }
            }
        }
    }

    /** A lab guest's RAM image made by {@link #dumpLabGuest}. */
    static BaseImage labImage(String id, Path dump) {
        MappedPhysicalMemory memory = MappedPhysicalMemory.map(dump);
        OptionalLong cr3 = OptionalLong.empty();
        Path cr3File = dump.resolveSibling(dump.getFileName().toString().replace(".ram", ".cr3"));
        try {
            if (Files.exists(cr3File)) {
                cr3 = OptionalLong.of(Long.parseUnsignedLong(Files.readString(cr3File).trim(), 16));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        KernelProfile profile = LinuxModel.profile(memory, new KernelProfileCache(), cr3);
        return new BaseImage(id, HostileCase.Base.LAB_IMAGE, memory, profile, LinuxModel.processes(memory, profile),
                null, cr3);
    }

    /** The dump of a lab guest of this kernel release, made earlier. */
    static Path dumpPath(String release) {
        return DUMPS.resolve(release + ".ram");
    }

    /**
     * Copies a lab guest's RAM into {@link #DUMPS} while the guest is paused (a consistent image), through the
     * engine's own driver, with vCPU 0's CR3 beside it ({@code <release>.cr3}): the base of the lab cases.
     */
    static Path dumpLabGuest(Domain domain, String release) throws IOException {
        Files.createDirectories(DUMPS);
        Path target = dumpPath(release);
        Path tmp = Files.createTempFile(DUMPS, release, ".part");
        PhysicalMemory ram = domain.memory();
        byte[] chunk = new byte[1 << 20];
        domain.pause();
        try (OutputStream out = Files.newOutputStream(tmp)) {
            Files.writeString(target.resolveSibling(release + ".cr3"),
                    Long.toHexString(domain.registers(0).cr3()) + "\n");
            for (long at = 0; at < ram.size(); at += chunk.length) {
                int n = (int) Math.min(chunk.length, ram.size() - at);
                ram.read(at, chunk, 0, n);
                out.write(chunk, 0, n);
            }
        } finally {
            domain.resume();
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return target;
    }

    /** Runs one case on its base. */
    static Result run(HostileCase c, BaseImage base) {
        HostileImage image = base.image();
        c.corrupt().accept(image);
        AtomicReference<Object> outcome = new AtomicReference<>();
        long[] measured = new long[2];
        Thread worker = new Thread(() -> {
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long bytes0 = mx.getCurrentThreadAllocatedBytes();
            long t0 = mx.getCurrentThreadCpuTime();
            try {
                KernelProfile profile = c.discover()
                        ? LinuxModel.profile(image.memory, new KernelProfileCache(), base.runningCr3()) : image.profile;
                LinuxModel.Processes result = LinuxModel.processes(image.memory, profile);
                outcome.set(new Object[] {profile, result});
            } catch (Throwable t) {
                outcome.set(t);
            } finally {
                measured[0] = mx.getCurrentThreadCpuTime() - t0;
                measured[1] = mx.getCurrentThreadAllocatedBytes() - bytes0;
            }
        }, "hostile-" + c.name());
        worker.setDaemon(true);
        worker.start();
        try {
            worker.join(ABANDON);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (worker.isAlive()) {
            return new Result(c, HostileCase.Outcome.HANG, "still running after " + ABANDON.toMinutes() + " min",
                    ABANDON, -1);
        }
        Duration time = Duration.ofNanos(measured[0]);
        Result r = classify(c, image, base, outcome.get(), time, measured[1]);
        if (r.outcome() != HostileCase.Outcome.UNCHECKED && r.outcome() != HostileCase.Outcome.OOM) {
            if (time.compareTo(c.timeBound()) > 0) {
                return new Result(c, HostileCase.Outcome.HANG, "took " + time.toMillis() + " ms of CPU, bound "
                        + c.timeBound().toMillis() + " ms (" + r.detail() + ")", time, measured[1]);
            }
            if (measured[1] > c.memoryBound()) {
                return new Result(c, HostileCase.Outcome.OOM, "allocated " + mib(measured[1]) + " MiB, bound "
                        + mib(c.memoryBound()) + " MiB (" + r.detail() + ")", time, measured[1]);
            }
        }
        return r;
    }

    private static Result classify(HostileCase c, HostileImage image, BaseImage base, Object outcome, Duration time,
                                   long allocated) {
        if (outcome instanceof VmiException e) {
            return new Result(c, HostileCase.Outcome.TYPED_ERROR, e.getClass().getSimpleName() + ": "
                    + shorten(e.getMessage()), time, allocated);
        }
        if (outcome instanceof OutOfMemoryError e) {
            return new Result(c, HostileCase.Outcome.OOM, e.toString(), time, allocated);
        }
        if (outcome instanceof Throwable t) {
            return new Result(c, HostileCase.Outcome.UNCHECKED, t + " at " + (t.getStackTrace().length > 0
                    ? t.getStackTrace()[0] : "?"), time, allocated);
        }
        Object[] pair = (Object[]) outcome;
        KernelProfile profile = (KernelProfile) pair[0];
        LinuxModel.Processes result = (LinuxModel.Processes) pair[1];
        List<String> problems = new ArrayList<>();
        if (profile.initTask() != base.profile().initTask() || profile.kaslrSlide() != base.profile().kaslrSlide()
                || profile.physBase() != base.profile().physBase()) {
            problems.add("a different kernel was presented: " + profile.summary());
        }
        Map<Integer, GuestProcess> truth = new HashMap<>();
        base.truth().processes().forEach(p -> truth.put(p.pid(), p));
        Set<Integer> seen = new HashSet<>();
        for (GuestProcess p : result.processes()) {
            seen.add(p.pid());
            if (image.changed.contains(p.pid())) {
                continue;
            }
            GuestProcess t = truth.get(p.pid());
            if (image.removed.contains(p.pid()) || t == null) {
                if (p.visibility() == Visibility.LISTED) {
                    problems.add("pid " + p.pid() + " (" + p.name() + ") presented as real");
                }
            } else if (!Objects.equals(p.name(), t.name()) || !Objects.equals(p.comm(), t.comm())
                    || p.ppid() != t.ppid() || p.uid() != t.uid() || !p.argv().equals(t.argv())) {
                problems.add("pid " + p.pid() + " read as " + p.name() + "/" + p.ppid() + "/" + p.uid() + " "
                        + p.argv() + ", base has " + t.name() + "/" + t.ppid() + "/" + t.uid() + " " + t.argv());
            }
        }
        long missing = truth.keySet().stream()
                .filter(pid -> !seen.contains(pid) && !image.removed.contains(pid) && !image.changed.contains(pid))
                .count();
        boolean sameWarnings = result.warnings().equals(base.truth().warnings());
        if (missing > 0 && sameWarnings) {
            problems.add(missing + " processes missing without a warning");
        }
        if (c.check() != null) {
            String problem = c.check().problem(image, result);
            if (problem != null) {
                problems.add(problem);
            }
        }
        String summary = result.processes().size() + " processes ("
                + result.processes().stream().filter(p -> p.visibility() != Visibility.LISTED).count()
                + " flagged), " + result.warnings().size() + (result.warnings().size() == 1 ? " warning" : " warnings")
                + (result.warnings().isEmpty() ? "" : ": " + shorten(firstNew(result.warnings(), base)));
        if (!problems.isEmpty()) {
            return new Result(c, HostileCase.Outcome.WRONG, String.join("; ", problems) + " [" + summary + "]", time,
                    allocated);
        }
        boolean complete = missing == 0 && seen.size() == truth.size() - image.removed.size();
        HostileCase.Outcome o = complete && sameWarnings ? HostileCase.Outcome.CORRECT : HostileCase.Outcome.PARTIAL;
        return new Result(c, o, summary, time, allocated);
    }

    private static String firstNew(List<String> warnings, BaseImage base) {
        return warnings.stream().filter(w -> !base.truth().warnings().contains(w)).findFirst()
                .orElse(warnings.getFirst());
    }

    private static String shorten(String s) {
        String one = s == null ? "" : s.replace('\n', ' ');
        return one.length() > 140 ? one.substring(0, 137) + "..." : one;
    }

    static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }

    /** The bases this machine can build: synthetic always, kernel images when lab.sh can fetch them, lab dumps made before. */
    static List<BaseImage> availableBases() {
        List<BaseImage> bases = new ArrayList<>();
        bases.add(synthetic());
        bases.add(syntheticFlood());
        kernelImage("img61", RealKernels.DEFAULT).ifPresent(bases::add);
        kernelImage("img612", RealKernels.K612).ifPresent(bases::add);
        relocatedKernelImage("img61far", 128).ifPresent(bases::add);
        if (Files.isDirectory(DUMPS)) {
            try (Stream<Path> dumps = Files.list(DUMPS)) {
                for (Path d : dumps.filter(p -> p.toString().endsWith(".ram")).sorted().toList()) {
                    bases.add(labImage(labId(d.getFileName().toString()), d));
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return bases;
    }

    /** lab61 for 6.1.0-57-amd64.ram, lab612 for 6.12.95+deb12-amd64.ram. */
    static String labId(String dumpName) {
        String[] v = dumpName.split("[.-]");
        return "lab" + v[0] + v[1];
    }

    static List<Result> runAll(List<BaseImage> bases) {
        List<Result> results = new ArrayList<>();
        for (BaseImage base : bases) {
            for (HostileCase c : HostileCases.forBase(base)) {
                Result r = run(c, base);
                System.out.printf("%-40s %-11s %6d ms %5d MiB  %s%n", c.name(), r.outcome(), r.time().toMillis(),
                        mib(r.allocatedBytes()), r.detail());
                results.add(r);
            }
        }
        return results;
    }

    /** Every run of a case, one row each (markdown): the detail behind {@link #table}. */
    static String runs(List<Result> results) {
        StringBuilder sb = new StringBuilder();
        sb.append("| case | outcome | detail | bound (CPU time, allocated) | measured (CPU time, allocated) |\n");
        sb.append("|---|---|---|---|---|\n");
        for (Result r : results) {
            HostileCase c = r.hostileCase();
            sb.append("| `").append(c.name()).append("` | ").append(r.acceptable() ? "" : "**NOT ACCEPTED** ")
                    .append(outcome(r)).append(" | ").append(cell(r.detail())).append(" | ")
                    .append(c.timeBound().toMillis()).append(" ms, ").append(mib(c.memoryBound())).append(" MiB | ")
                    .append(r.time().toMillis()).append(" ms, ").append(mib(r.allocatedBytes())).append(" MiB |\n");
        }
        return sb.toString();
    }

    /**
     * The reliability table (markdown): one row per case over every base it ran on, with the outcomes observed
     * (and on which bases), the bounds, and the worst time and allocation measured.
     */
    static String table(List<Result> results) {
        Map<String, List<Result>> byCase = new LinkedHashMap<>();
        for (Result r : results) {
            String name = r.hostileCase().name();
            byCase.computeIfAbsent(name.substring(name.indexOf('/') + 1), k -> new ArrayList<>()).add(r);
        }
        StringBuilder sb = new StringBuilder();
        sb.append("| case | what is corrupted | expected | observed | bound (CPU time, allocated) | measured worst (CPU time, allocated) |\n");
        sb.append("|---|---|---|---|---|---|\n");
        for (Map.Entry<String, List<Result>> e : byCase.entrySet()) {
            List<Result> runs = e.getValue();
            HostileCase c = runs.getFirst().hostileCase();
            Map<String, List<String>> outcomes = new LinkedHashMap<>();
            for (Result r : runs) {
                outcomes.computeIfAbsent((r.acceptable() ? "" : "**NOT ACCEPTED** ") + outcome(r), k -> new ArrayList<>())
                        .add(base(r));
            }
            Result example = runs.stream().filter(r -> r.hostileCase().base() == HostileCase.Base.LAB_IMAGE)
                    .findFirst().orElse(runs.getLast());
            Result slowest = runs.stream().max(Comparator.comparing(Result::time)).orElseThrow();
            Result largest = runs.stream().max(Comparator.comparingLong(Result::allocatedBytes)).orElseThrow();
            Map<String, List<String>> bounds = new LinkedHashMap<>();
            for (Result r : runs) {
                bounds.computeIfAbsent(seconds(r.hostileCase().timeBound()) + ", "
                        + mib(r.hostileCase().memoryBound()) + " MiB", k -> new ArrayList<>()).add(base(r));
            }
            sb.append("| `").append(e.getKey()).append("` | ").append(cell(c.corrupts())).append(" | ")
                    .append(cell(c.expected())).append(" | ");
            outcomes.forEach((o, b) -> sb.append(o).append(" (").append(String.join(", ", b)).append("); "));
            sb.append("e.g. ").append(base(example)).append(": ").append(cell(example.detail())).append(" | ");
            sb.append(bounds.size() == 1 ? bounds.keySet().iterator().next() : bounds.entrySet().stream()
                    .map(b -> b.getKey() + " (" + String.join(", ", b.getValue()) + ")")
                    .collect(Collectors.joining("; ")));
            sb.append(" | ").append(slowest.time().toMillis()).append(" ms (").append(base(slowest)).append("), ")
                    .append(mib(largest.allocatedBytes())).append(" MiB (").append(base(largest)).append(") |\n");
        }
        return sb.toString();
    }

    private static String base(Result r) {
        return r.hostileCase().name().substring(0, r.hostileCase().name().indexOf('/'));
    }

    private static String outcome(Result r) {
        return r.outcome().name().toLowerCase().replace('_', ' ');
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private static String cell(String text) {
        return text.replace("|", "\\|");
    }

}
