package dev.periscope.bench.faults;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * What a process holds that a fault could leak, read from {@code /proc/PID}: open file descriptors, memory mappings,
 * the files under {@code /dev/shm} it maps (guest RAM and event rings live there, a deleted one included), threads;
 * and the {@code /dev/shm} files of the suite's lab, whoever holds them.
 *
 * @param fds         entries of {@code /proc/PID/fd}
 * @param mappings    lines of {@code /proc/PID/maps}
 * @param shmMappings distinct files under {@code /dev/shm} it maps
 * @param threads     entries of {@code /proc/PID/task}
 * @param shmFiles    files in {@code /dev/shm} named with the lab's prefix
 */
record Resources(int fds, int mappings, int shmMappings, int threads, int shmFiles) {

    /** Growth a long-lived JVM shows without leaking (pools that grow on demand, heap and code cache regions). */
    static final Resources TOLERANCE = new Resources(8, 64, 0, 8, 0);

    static Resources of(long pid, String shmPrefix) {
        Path proc = Path.of("/proc", Long.toString(pid));
        int fds = count(proc.resolve("fd"));
        int threads = count(proc.resolve("task"));
        int mappings = 0;
        Set<String> shm = new HashSet<>();
        try {
            for (String line : Files.readAllLines(proc.resolve("maps"))) {
                mappings++;
                int at = line.indexOf("/dev/shm/");
                if (at >= 0) {
                    shm.add(line.substring(at));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("process " + pid + " is gone", e);
        }
        int shmFiles = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(Path.of("/dev/shm"), shmPrefix + "*")) {
            for (Path ignored : files) {
                shmFiles++;
            }
        } catch (IOException e) {
            shmFiles = -1;
        }
        return new Resources(fds, mappings, shm.size(), threads, shmFiles);
    }

    private static int count(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return (int) entries.count();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + dir, e);
        }
    }

    Resources minus(Resources o) {
        return new Resources(fds - o.fds, mappings - o.mappings, shmMappings - o.shmMappings, threads - o.threads,
                shmFiles - o.shmFiles);
    }

    /** Whether every count grew by at most {@code limit}'s. */
    boolean within(Resources limit) {
        return fds <= limit.fds && mappings <= limit.mappings && shmMappings <= limit.shmMappings
                && threads <= limit.threads && shmFiles <= limit.shmFiles;
    }

    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("fds", fds);
        m.put("mappings", mappings);
        m.put("shmMappings", shmMappings);
        m.put("threads", threads);
        m.put("shmFiles", shmFiles);
        return m;
    }

    /** "fd 210→211, maps 812→815, shm maps 0→0, shm files 0→0, threads 74→75". */
    static String change(Resources before, Resources after) {
        return "fd " + before.fds + "→" + after.fds + ", maps " + before.mappings + "→" + after.mappings
                + ", shm maps " + before.shmMappings + "→" + after.shmMappings + ", shm files " + before.shmFiles
                + "→" + after.shmFiles + ", threads " + before.threads + "→" + after.threads;
    }

    /**
     * The process's resources once it settled: collects its garbage (so that what only a finaliser or cleaner would
     * close is closed) and measures again every few seconds, for at most {@code patience}, until the growth over
     * {@code before} is within {@link #TOLERANCE} (idle pool threads retire after a minute).
     */
    static Resources settled(long pid, Resources before, String shmPrefix, Duration patience) {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            Commands.run(Duration.ofSeconds(30), jcmd(), Long.toString(pid), "GC.run");
            Commands.sleep(Duration.ofSeconds(1));
            Resources now = of(pid, shmPrefix);
            if (now.minus(before).within(TOLERANCE) || System.nanoTime() > deadline) {
                return now;
            }
            Commands.sleep(Duration.ofSeconds(4));
        }
    }

    private static String jcmd() {
        return Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
    }

    /**
     * What a JVM keeps alive on its heap: the total of its class histogram, which is taken after a full collection,
     * in MiB; -1 when unknown.
     */
    static double liveHeapMib(long pid) {
        String histogram = Commands.run(Duration.ofSeconds(60), jcmd(), Long.toString(pid), "GC.class_histogram")
                .output();
        var m = java.util.regex.Pattern.compile("(?m)^Total\\s+\\d+\\s+(\\d+)").matcher(histogram);
        return m.find() ? Long.parseLong(m.group(1)) / (1024.0 * 1024) : -1;
    }

    /**
     * Memory a JVM started with {@code -XX:NativeMemoryTracking=summary} committed outside its heap for direct buffers
     * (Netty's pools among them: where a backlog of unsent stream data would grow), in MiB; -1 when unknown.
     */
    static double directMib(long pid) {
        String summary = Commands.run(Duration.ofSeconds(30), jcmd(), Long.toString(pid), "VM.native_memory",
                "summary").output();
        var m = java.util.regex.Pattern.compile("- +Other \\(reserved=\\d+KB, committed=(\\d+)KB\\)")
                .matcher(summary);
        return m.find() ? Long.parseLong(m.group(1)) / 1024.0 : -1;
    }

    /** The process's resident memory in MiB, or -1 when it is gone. */
    static double rssMib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    /** Files under {@code dir} (recursively) whose name matches {@code glob}, e.g. leftover snapshot files. */
    static List<Path> files(Path dir, String glob) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        var matcher = dir.getFileSystem().getPathMatcher("glob:" + glob);
        try (Stream<Path> all = Files.walk(dir)) {
            return all.filter(p -> matcher.matches(p.getFileName())).toList();
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + dir, e);
        }
    }
}
