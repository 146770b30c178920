package dev.periscope.vmi;

/** How a view of guest memory is taken. */
public enum AcquisitionMode {
    /** Copy-on-write snapshot: consistent, the guest keeps running (the default). */
    SNAPSHOT,
    /** Pause the guest, read, resume: consistent, costs guest downtime for the whole read. */
    PAUSE,
    /** Read the running guest: no cost, but racy; results are labelled so. */
    LIVE
}
