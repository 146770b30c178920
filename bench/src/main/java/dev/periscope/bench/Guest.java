package dev.periscope.bench;

import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.SymbolTable;
import dev.periscope.vmi.memory.PhysicalMemory;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The lab guest a benchmark reads: its name from the system property {@code periscope.vm} (else the environment
 * variable {@code PERISCOPE_BENCH_VM}, else {@code bench-1}), the var directory from {@code periscope.var} (else
 * {@code PERISCOPE_VAR}, else the {@code var} of the repository around the working directory). Environment
 * variables reach JMH's forked JVMs without any -jvmArgs, which is why bench/run.sh uses them.
 */
final class Guest {

    /** Direct-mapped translation cache size of X86AddressSpace (package-private there as CACHE_ENTRIES). */
    static final int TRANSLATION_CACHE_ENTRIES = 4096;

    private static final Pattern RAM_PATH = Pattern.compile("\"ramPath\"\\s*:\\s*\"([^\"]+)\"");

    private Guest() {
    }

    static String vm() {
        return setting("periscope.vm", "PERISCOPE_BENCH_VM", "bench-1");
    }

    static Path varDir() {
        String configured = setting("periscope.var", "PERISCOPE_VAR", null);
        if (configured != null) {
            return Path.of(configured).toAbsolutePath();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("lab/lab.sh"))) {
                return dir.resolve("var");
            }
        }
        return Path.of("var").toAbsolutePath();
    }

    /** The live RAM file of the VM, from its meta.json. */
    static Path ramPath(String vm) {
        Path meta = varDir().resolve("lab").resolve(vm).resolve("meta.json");
        try {
            Matcher m = RAM_PATH.matcher(Files.readString(meta));
            if (!m.find()) {
                throw new IllegalStateException(meta + " has no ramPath");
            }
            return Path.of(m.group(1));
        } catch (IOException e) {
            throw new UncheckedIOException("no lab VM " + vm + " (start one with lab/lab.sh start " + vm
                    + " --workload busy)", e);
        }
    }

    private static String setting(String property, String env, String fallback) {
        String value = System.getProperty(property);
        if (value == null || value.isBlank()) {
            value = System.getenv(env);
        }
        return value == null || value.isBlank() ? fallback : value;
    }

    /**
     * Up to {@code max} mapped kernel symbol addresses spread over the image, no two in the same translation
     * cache slot (so a round robin over them only hits once warm). SymbolTable has no public name iterator, so
     * the names come from {@link SymbolTable#symbolAt} at evenly spaced image addresses, plus well-known ones.
     */
    static long[] kernelSymbolAddresses(KernelProfile profile, PhysicalMemory memory, int max) {
        SymbolTable symbols = profile.symbols();
        X86AddressSpace probe = X86AddressSpace.fourLevel(memory, profile.kernelDtb());
        Set<Long> candidates = new LinkedHashSet<>();
        for (String name : List.of("init_task", "jiffies", "jiffies_64", "linux_banner", "init_top_pgt", "_text",
                "_stext", "_etext", "_sdata", "_edata", "__bss_start", "page_offset_base", "phys_base",
                "__per_cpu_offset", "init_mm", "swapper_pg_dir", "kallsyms_names", "start_kernel", "schedule",
                "do_sys_open", "vfs_read", "vfs_write", "kmalloc_caches", "init_pid_ns", "init_uts_ns",
                "totalram_pages", "nr_cpu_ids", "system_state", "panic", "printk")) {
            symbols.address(name).ifPresent(candidates::add);
        }
        long text = symbols.address("_text").orElseThrow();
        OptionalLong endSymbol = symbols.address("_end");
        long end = endSymbol.isPresent() && endSymbol.getAsLong() > text ? endSymbol.getAsLong() : text + (48L << 20);
        long stride = Math.max(4096, ((end - text) / (max * 2L)) & ~0xfffL);
        for (long a = text; a < end; a += stride) {
            symbols.symbolAt(a).ifPresent(s -> {
                int plus = s.indexOf("+0x");
                symbols.address(plus < 0 ? s : s.substring(0, plus)).ifPresent(candidates::add);
            });
        }
        List<Long> chosen = new ArrayList<>();
        boolean[] slotUsed = new boolean[TRANSLATION_CACHE_ENTRIES];
        Set<Long> pages = new HashSet<>();
        for (long a : candidates) {
            if (chosen.size() >= max || !probe.isMapped(a)) {
                continue;
            }
            long page = a >>> 12;
            int slot = (int) (page & (TRANSLATION_CACHE_ENTRIES - 1));
            if (pages.contains(page) || !slotUsed[slot]) {
                slotUsed[slot] = true;
                pages.add(page);
                chosen.add(a);
            }
        }
        Collections.shuffle(chosen, new Random(42));
        return chosen.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * Direct-map addresses 16 MiB apart, all in one translation cache slot: a round robin over them misses on
     * every call (a real page walk plus one cache fill), without the cost of clearing the whole cache.
     */
    static long[] collidingDirectMapAddresses(KernelProfile profile, PhysicalMemory memory) {
        X86AddressSpace probe = X86AddressSpace.fourLevel(memory, profile.kernelDtb());
        long stride = (long) TRANSLATION_CACHE_ENTRIES << 12; // 16 MiB
        List<Long> result = new ArrayList<>();
        for (long pa = 0x123000; pa < memory.size(); pa += stride) {
            long va = profile.pageOffsetBase() + pa;
            if (probe.isMapped(va)) {
                result.add(va);
            }
        }
        if (result.size() < 2) {
            throw new IllegalStateException("fewer than two colliding direct-map addresses");
        }
        return result.stream().mapToLong(Long::longValue).toArray();
    }
}
