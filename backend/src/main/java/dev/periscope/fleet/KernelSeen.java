package dev.periscope.fleet;

/**
 * The kernel build an agent found in a guest (derived from guest memory alone): what the control plane records per
 * banner.
 */
public record KernelSeen(String banner, String release, long kaslrSlide, int symbols, int btfTypes) {
}
