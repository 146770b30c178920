package dev.periscope.session;

import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Function;

/**
 * Events' JSON, encoded once for all the streams that write them. Every subscriber of a session's hub is handed the
 * same event object, so a memo by identity spares each further subscriber the encoding: 50 clients of one trace cost
 * one encoding per event, not 50. The memo is a fixed table with a slot per event id: an event that finds another in
 * its slot (a subscriber far behind the others, another session) is encoded anew and takes the slot. Memory stays
 * bounded: a stream's own drop markers (no id, one subscriber's alone) and events whose JSON is larger than
 * {@link #LARGEST} (process lists) are never kept.
 */
final class EncodedEvents {

    /** The largest JSON kept: syscalls fit, process lists do not (they come seconds apart). */
    static final int LARGEST = 4096;

    private record Encoded(SessionEvent event, byte[] json) {
    }

    private final Function<SessionEvent, byte[]> encoder;
    private final AtomicReferenceArray<Encoded> slots;

    /** Encodes with {@code encoder}, keeping up to {@code slots} (a power of two) events' JSON. */
    EncodedEvents(Function<SessionEvent, byte[]> encoder, int slots) {
        if (Integer.bitCount(slots) != 1) {
            throw new IllegalArgumentException("slots must be a power of two, not " + slots);
        }
        this.encoder = encoder;
        this.slots = new AtomicReferenceArray<>(slots);
    }

    /** {@code event}'s JSON; the array is shared, and must not be changed. */
    byte[] json(SessionEvent event) {
        if (event.id() < 0) {
            return encoder.apply(event);
        }
        int slot = Long.hashCode(event.id() * 0x9E3779B97F4A7C15L) & (slots.length() - 1);
        Encoded kept = slots.get(slot);
        if (kept != null && kept.event() == event) {
            return kept.json();
        }
        byte[] json = encoder.apply(event);
        if (json.length <= LARGEST) {
            slots.set(slot, new Encoded(event, json));
        }
        return json;
    }
}
