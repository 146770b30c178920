package dev.periscope.vmi.linux;

/**
 * One thread of a guest process, as {@code /proc/PID/task/TID} shows it.
 *
 * @param tid   thread id
 * @param name  what {@code /proc/PID/task/TID/comm} shows (see {@link GuestProcess#name()})
 * @param comm  the thread's raw comm
 * @param state one-letter state as /proc shows it
 */
public record GuestThread(int tid, String name, String comm, String state) {
}
