package dev.periscope.vmi.linux;

import java.util.List;

/**
 * One task group (process) of a Linux guest as read from its memory. Values are copies; guest data is
 * untrusted, so strings are length-capped and sanitised.
 *
 * @param pid           thread-group id (what userspace calls the pid)
 * @param ppid          pid of real_parent
 * @param name          what the guest's {@code /proc/PID/comm} shows: the comm, or for a kernel thread its full
 *                      name (up to 63 characters) and for a workqueue worker its id and current workqueue, e.g.
 *                      {@code kworker/u2:1-events_unbound}
 * @param comm          the task's raw comm (at most 15 characters)
 * @param argv          command line from mm->arg_start..arg_end; empty for kernel threads or when unreadable
 * @param uid           real uid from cred
 * @param gid           real gid from cred
 * @param state         one-letter state as /proc shows it (R, S, D, T, t, X, Z, P, I)
 * @param startTimeNs   task start_time (ns since boot)
 * @param cr3           physical address of mm->pgd (the DTB its threads run with); 0 for kernel threads
 * @param kernelThread  true when the task has no mm
 * @param threads       thread ids of the group, including the leader
 * @param taskAddress   kernel virtual address of the leader's task_struct
 * @param visibility    how the process was found: on the task list and in the PID table, or in only one of them
 * @param threadDetails each thread's id, name and state, only when the caller asked for them
 *                      ({@link ThreadDetail#FULL}); empty otherwise
 */
public record GuestProcess(int pid, int ppid, String name, String comm, List<String> argv, int uid, int gid,
                           String state, long startTimeNs, long cr3, boolean kernelThread, List<Integer> threads,
                           long taskAddress, Visibility visibility, List<GuestThread> threadDetails) {

    /** argv joined by spaces, as ps shows it; falls back to [name] for kernel threads. */
    public String cmdline() {
        return argv.isEmpty() ? "[" + name + "]" : String.join(" ", argv);
    }

    /** True when the process was found only through the PID table: unlinked from the task list (DKOM). */
    public boolean hidden() {
        return visibility == Visibility.HIDDEN;
    }
}
