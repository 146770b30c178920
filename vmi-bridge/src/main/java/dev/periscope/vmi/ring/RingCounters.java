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
 */
public record RingCounters(long seen, long filtered, long delivered, long dropped, long vcpuWaitNs, long syncTimeouts) {

    public static final RingCounters ZERO = new RingCounters(0, 0, 0, 0, 0, 0);

    public RingCounters plus(RingCounters o) {
        return new RingCounters(seen + o.seen, filtered + o.filtered, delivered + o.delivered, dropped + o.dropped,
                vcpuWaitNs + o.vcpuWaitNs, syncTimeouts + o.syncTimeouts);
    }

    public RingCounters minus(RingCounters o) {
        return new RingCounters(seen - o.seen, filtered - o.filtered, delivered - o.delivered, dropped - o.dropped,
                vcpuWaitNs - o.vcpuWaitNs, syncTimeouts - o.syncTimeouts);
    }
}
