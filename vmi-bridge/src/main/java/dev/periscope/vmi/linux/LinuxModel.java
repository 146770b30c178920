package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.List;

/**
 * Entry points of the Linux model for the engine: derive a profile from guest memory, list processes.
 * Stateless apart from the caller's {@link KernelProfileCache}.
 */
public final class LinuxModel {

    private LinuxModel() {
    }

    /** Derives the kernel profile from guest physical memory (warm when the cache knows the build). */
    public static KernelProfile profile(PhysicalMemory memory, KernelProfileCache cache) {
        return KernelDiscovery.discover(memory, cache);
    }

    /**
     * Reads the process list. Builds fresh translation caches over {@code memory}, so a new snapshot or a pause
     * never sees translations cached over older memory.
     */
    public static Processes processes(PhysicalMemory memory, KernelProfile profile) {
        return processes(memory, profile, ThreadDetail.IDS);
    }

    /** Reads the process list with as much about each thread as {@code threads} asks for. */
    public static Processes processes(PhysicalMemory memory, KernelProfile profile, ThreadDetail threads) {
        TaskWalker.Result r = TaskWalker.over(memory, profile, threads).walk();
        return new Processes(r.processes(), r.warnings());
    }

    /** A walk's processes (ordered by pid) and its warnings. */
    public record Processes(List<GuestProcess> processes, List<String> warnings) {
    }
}
