package dev.periscope.vmi.trace;

import java.time.Duration;
import java.time.Instant;

/**
 * What watching costs, for one session (its share) and for its VM (all sessions sharing the ring), counted since
 * the session started. Hypervisor-side counts come from the ring's counters; the rest from the ring thread.
 *
 * @param at                   when sampled
 * @param vm                   the VM
 * @param method               the session's method
 * @param elapsed              since the session started
 * @param hypervisorSeen       events the extension observed on the VM (CR3 writes + breakpoint hits)
 * @param hypervisorFiltered   of those, not delivered because no session wanted them (decided in the hypervisor)
 * @param cr3Seen              CR3 writes observed
 * @param cr3Filtered          CR3 writes filtered in the hypervisor
 * @param cr3Delivered         CR3-write records that reached Java
 * @param syscallsDelivered    syscall-entry records that reached Java (all processes)
 * @param ringDropped          records lost because the ring was full
 * @param syscallsMatched      syscall events of this session's processes
 * @param sessionEmitted       events put into this session's buffer
 * @param sessionDropped       events this session lost because its consumer was slow (buffer full)
 * @param vcpuWait             time the VM's vCPUs waited for Java (synchronous events)
 * @param syncTimeouts         synchronous events Java did not answer in time
 * @param estimatedSlowdown    vcpuWait / (elapsed x vCPUs): the share of guest time spent waiting for the monitor,
 *                             a lower bound of the slowdown (trap cost itself is not included)
 * @param translationFlushes   translation-cache flushes caused by breakpoint table changes
 * @param processRefreshes     process-list walks the ring thread made to attribute events
 * @param processRefreshTime   host time those walks took (on the ring thread, competing with the vCPUs for cores)
 * @param exitsDelivered       syscall-return records that reached Java (returns of calls whose entries were delivered)
 * @param exitsPaired          returns paired with their entries (calls emitted with a result)
 * @param exitsUnmatched       returns in traced address spaces that no entry waited for (a fresh child's first
 *                             return, a lost entry, a hostile guest): counted, never stored
 * @param exitsLost            calls given up before their return: its return was lost, a bounded pending table
 *                             (the engine's, or the extension's) was full; those calls show as unfinished
 */
public record OverheadSnapshot(Instant at, String vm, TraceMethod method, Duration elapsed, long hypervisorSeen,
                               long hypervisorFiltered, long cr3Seen, long cr3Filtered, long cr3Delivered,
                               long syscallsDelivered, long ringDropped, long syscallsMatched, long sessionEmitted,
                               long sessionDropped, Duration vcpuWait, long syncTimeouts, double estimatedSlowdown,
                               long translationFlushes, long processRefreshes, Duration processRefreshTime,
                               long exitsDelivered, long exitsPaired, long exitsUnmatched, long exitsLost) {
}
