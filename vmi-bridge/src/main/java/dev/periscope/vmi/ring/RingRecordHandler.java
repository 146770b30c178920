package dev.periscope.vmi.ring;

/** Receives records from {@link EventRing#poll(RingRecordHandler, int)}; the record is a view valid only during the call. */
@FunctionalInterface
public interface RingRecordHandler {
    void onRecord(RingRecord record);
}
