package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.PhysicalMemory;

/**
 * Entry points of the Linux model for the engine: derive a profile from guest memory, list processes.
 * Stateless apart from the caller's {@link KernelProfileCache}.
 */
public final class LinuxModel {

    private LinuxModel() {
    }

    /** Derives the kernel profile from guest physical memory (warm when the cache knows the build). */
    public static KernelProfile profile(PhysicalMemory memory, KernelProfileCache cache) {
        cache.preload(memory);
        return KernelDiscovery.discover(memory, cache);
    }

    /**
     * Reads the process list. Builds fresh translation caches over {@code memory}, so a new snapshot or a pause
     * never sees translations cached over older memory.
     */
    public static Processes processes(PhysicalMemory memory, KernelProfile profile) {
        TaskWalker.Result r = TaskWalker.over(memory, profile).walk();
        return new Processes(r.processes(), r.warnings());
    }

    /** A walk's processes (ordered by pid) and its warnings. */
    public record Processes(java.util.List<GuestProcess> processes, java.util.List<String> warnings) {
    }
}
