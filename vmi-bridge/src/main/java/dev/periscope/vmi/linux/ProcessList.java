package dev.periscope.vmi.linux;

import dev.periscope.vmi.AcquisitionMode;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A process list and how it was taken.
 *
 * @param vm             VM name
 * @param kernelVersion  the guest's own banner release (e.g. "6.1.0-56-amd64")
 * @param mode           how guest memory was read
 * @param consistent     false for LIVE reads (the list may mix states)
 * @param takenAt        the instant the list describes
 * @param guestDowntime  how long the guest was stopped for this list
 * @param snapshotAge    age of the snapshot when the list was built (zero for PAUSE and LIVE)
 * @param readTime       time spent walking guest memory
 * @param processes      processes ordered by pid
 * @param warnings       what could not be read (corrupt or hostile structures); empty when complete
 */
public record ProcessList(String vm, String kernelVersion, AcquisitionMode mode, boolean consistent, Instant takenAt,
                          Duration guestDowntime, Duration snapshotAge, Duration readTime,
                          List<GuestProcess> processes, List<String> warnings) {
}
