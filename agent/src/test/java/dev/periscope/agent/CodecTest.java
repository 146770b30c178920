package dev.periscope.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.agent.api.Process;
import dev.periscope.agent.api.ProcessList;
import dev.periscope.agent.api.Visibility;
import dev.periscope.vmi.AcquisitionMode;
import dev.periscope.vmi.linux.GuestProcess;
import dev.periscope.vmi.linux.SyntheticGuest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The engine's process list as the agent API carries it: what the task walker found, field by field. */
class CodecTest {

    @Test
    void aProcessHiddenFromTheTaskListIsSentAsHiddenWithItsComm() {
        SyntheticGuest guest = new SyntheticGuest(8 << 20);
        long init = guest.task(1, "init", 0, false, "/sbin/init\0");
        long victim = guest.task(300, "dkom-victim", 0, false, "/usr/bin/dkom-victim\0-q\0");
        guest.link(init);
        guest.link(victim);
        guest.setParent(victim, init);
        guest.unlink(victim); // as a rootkit does: it stays in the PID table
        List<GuestProcess> processes = guest.processes();

        ProcessList sent = Codec.processList(new dev.periscope.vmi.linux.ProcessList("vm", "6.1.0-synthetic",
                AcquisitionMode.SNAPSHOT, true, Instant.EPOCH, Duration.ZERO, Duration.ZERO, Duration.ofMillis(1),
                processes, List.of()), guest.profile());

        Map<Integer, Process> byPid = sent.getProcessesList().stream()
                .collect(Collectors.toMap(Process::getPid, Function.identity()));
        assertThat(byPid.get(1).getVisibility()).isEqualTo(Visibility.LISTED);
        assertThat(byPid.get(300).getVisibility()).isEqualTo(Visibility.HIDDEN);
        assertThat(byPid.get(300).getComm()).isEqualTo("dkom-victim");
        assertThat(byPid.get(300).getName()).isEqualTo("dkom-victim");
        assertThat(byPid.get(300).getArgvList()).containsExactly("/usr/bin/dkom-victim", "-q");
    }
}
