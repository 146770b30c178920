package dev.periscope.process;

import dev.periscope.vmi.linux.GuestProcess;
import java.util.List;

/** One guest process as the API shows it. {@code cr3} is the physical address of its page-table root. */
public record ProcessView(int pid, int ppid, String name, String cmdline, List<String> argv, int uid, int gid,
                   String state, long startTimeNs, long cr3, boolean kernelThread, List<Integer> threads) {

    static ProcessView of(GuestProcess process) {
        return new ProcessView(process.pid(), process.ppid(), process.name(), process.cmdline(), process.argv(),
                process.uid(), process.gid(), process.state(), process.startTimeNs(), process.cr3(),
                process.kernelThread(), process.threads());
    }
}
