package dev.periscope.vmi.ring;

/**
 * Event accounting of the ring (one lane, or the sum over lanes). Invariant once producers are quiet:
 * {@code seen == filtered + delivered + dropped}. Counters are read without stopping the producer, so a
 * snapshot may be slightly inconsistent while events flow.
 *
 * @param seen         events the extension observed
 * @param filtered     events it did not deliver because the configuration did not want them
 * @param delivered    records written into the ring
 * @param dropped      wanted records lost because the lane was full (never silent: see DROP_MARKER)
 * @param vcpuWaitNs   time vCPUs spent waiting for Java on synchronous records
 * @param syncTimeouts synchronous records that Java did not answer in time
 * @param cr3Seen      the CR3-write share of {@code seen} (the rest are breakpoint hits)
 * @param cr3Filtered  the CR3-write share of {@code filtered}
 * @param exitsUnreported syscall returns the extension could not report (its pending set was full, or the thread's
 *                     registers unreadable): those calls stay unfinished
 */
public record RingCounters(long seen, long filtered, long delivered, long dropped, long vcpuWaitNs, long syncTimeouts,
                           long cr3Seen, long cr3Filtered, long exitsUnreported) {

    public static final RingCounters ZERO = new RingCounters(0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** Counters without the CR3 split and syscall returns (producers that do not report them). */
    public RingCounters(long seen, long filtered, long delivered, long dropped, long vcpuWaitNs, long syncTimeouts) {
        this(seen, filtered, delivered, dropped, vcpuWaitNs, syncTimeouts, 0, 0, 0);
    }

    public RingCounters plus(RingCounters o) {
        return new RingCounters(seen + o.seen, filtered + o.filtered, delivered + o.delivered, dropped + o.dropped,
                vcpuWaitNs + o.vcpuWaitNs, syncTimeouts + o.syncTimeouts, cr3Seen + o.cr3Seen,
                cr3Filtered + o.cr3Filtered, exitsUnreported + o.exitsUnreported);
    }

    public RingCounters minus(RingCounters o) {
        return new RingCounters(seen - o.seen, filtered - o.filtered, delivered - o.delivered, dropped - o.dropped,
                vcpuWaitNs - o.vcpuWaitNs, syncTimeouts - o.syncTimeouts, cr3Seen - o.cr3Seen,
                cr3Filtered - o.cr3Filtered, exitsUnreported - o.exitsUnreported);
    }

    /** CR3 writes delivered into the ring (seen minus filtered; drops are counted with all kinds). */
    public long cr3Delivered() {
        return cr3Seen - cr3Filtered;
    }
}
