package dev.periscope.vmi.linux;

import dev.periscope.vmi.memory.PhysicalMemory;
import java.util.List;
import java.util.OptionalLong;

/**
 * Entry points of the Linux model for the engine: derive a profile from guest memory, list processes.
 * Stateless apart from the caller's {@link KernelProfileCache}.
 */
public final class LinuxModel {

    private LinuxModel() {
    }

    /** Derives the kernel profile from guest physical memory (warm when the cache knows the build). */
    public static KernelProfile profile(PhysicalMemory memory, KernelProfileCache cache) {
        return KernelDiscovery.discover(memory, cache, OptionalLong.empty());
    }

    /**
     * Derives the kernel profile of the kernel a vCPU runs: {@code runningCr3} is a CR3 value read from one of the
     * guest's vCPUs, and only a kernel image whose init_task those page tables map where the image has it is
     * accepted. A copy of a kernel image elsewhere in guest memory (which any process can write, banner, kallsyms,
     * BTF and page tables included) is then never taken for the kernel.
     */
    public static KernelProfile profile(PhysicalMemory memory, KernelProfileCache cache, OptionalLong runningCr3) {
        return KernelDiscovery.discover(memory, cache, runningCr3);
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
