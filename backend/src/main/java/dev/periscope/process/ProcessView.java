package dev.periscope.process;

import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.Visibility;
import java.util.List;

/**
 * One guest process as the API shows it. {@code cr3} is the physical address of its page-table root; {@code name}
 * is what the guest's /proc/PID/comm shows, {@code comm} the raw 15-character task comm; {@code visibility} says
 * whether the process was hidden from the task list (found only in the PID table).
 */
public record ProcessView(int pid, int ppid, String name, String comm, String cmdline, List<String> argv, int uid,
                          int gid, String state, long startTimeNs, long cr3, boolean kernelThread,
                          List<Integer> threads, Visibility visibility) {

    static ProcessView of(GuestProcess process) {
        return new ProcessView(process.pid(), process.ppid(), process.name(), process.comm(), process.cmdline(),
                process.argv(), process.uid(), process.gid(), process.state(), process.startTimeNs(), process.cr3(),
                process.kernelThread(), process.threads(), process.visibility());
    }
}
