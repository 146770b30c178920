package dev.periscope.vmi.linux;

/**
 * How a process was found. Linux keeps every live task in two places: the task list ({@code init_task.tasks},
 * which ps-like walkers follow) and the PID table ({@code init_pid_ns.idr}, which {@code /proc}, {@code kill} and
 * the scheduler's lookups use). A rootkit that unlinks a task from the list (direct kernel object manipulation)
 * leaves it in the PID table; a task forged into the list has no PID table entry.
 */
public enum Visibility {
    /** On the task list; the PID table agrees, or could not be read (the list's warnings then say so). */
    LISTED,
    /** In the PID table and alive, but not on the task list: hidden from list walkers (DKOM). */
    HIDDEN,
    /** On the task list without a PID table entry: exiting at the instant of a live read, or forged. */
    UNHASHED
}
