package dev.periscope.vmi.linux;

/** How much a process list says about each process's threads. */
public enum ThreadDetail {
    /** Thread ids only ({@link GuestProcess#threads()}): the cheap default. */
    IDS,
    /** Thread ids plus each thread's name and state ({@link GuestProcess#threadDetails()}). */
    FULL
}
