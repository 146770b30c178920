package dev.periscope.vmi.linux;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vmi.AcquisitionMode;
import java.util.HashMap;
import java.util.Map;

/**
 * A guest's own view of its processes (what its /proc says), read by {@link #SCRIPT} run in the guest's test
 * shell, and the check that the engine's process list agrees with two such readings taken around it.
 */
public final class GuestProcView {

    /** Prints "pid|uid|stat line" for every process of the guest. */
    public static final String SCRIPT = "for d in /proc/[0-9]*; do p=${d#/proc/}; "
            + "s=$(cat $d/stat 2>/dev/null) || continue; u=; "
            + "while read k v rest; do [ \"$k\" = Uid: ] && u=$v; done < $d/status 2>/dev/null; "
            + "echo \"$p|$u|$s\"; done; true"; // processes may vanish mid-loop: only the exec itself may fail

    /** One process as the guest sees it. */
    public record Seen(int pid, int ppid, String comm, int uid) {
    }

    private GuestProcView() {
    }

    /** The processes in {@link #SCRIPT}'s output, by pid. */
    public static Map<Integer, Seen> parse(String output) {
        Map<Integer, Seen> seen = new HashMap<>();
        for (String line : output.split("\n")) {
            String[] f = line.split("\\|", 3);
            if (f.length < 3 || f[1].isEmpty()) {
                continue;
            }
            String stat = f[2];
            int open = stat.indexOf('('), close = stat.lastIndexOf(')');
            if (open < 0 || close < open) {
                continue;
            }
            String[] rest = stat.substring(close + 2).split(" ");
            seen.put(Integer.parseInt(f[0].trim()), new Seen(Integer.parseInt(f[0].trim()),
                    Integer.parseInt(rest[1]), stat.substring(open + 1, close), Integer.parseInt(f[1].trim())));
        }
        assertThat(seen).as("guest /proc reading").isNotEmpty();
        return seen;
    }

    /**
     * Every process present and unchanged in both readings is in the list with the same ppid, name (as
     * /proc/PID/stat shows it: kernel thread full names and workqueue descriptions included) and uid; every process
     * in the list was seen by a reading or born after the first. Returns how many were compared (more than 20 are
     * required).
     */
    public static int compare(String vm, AcquisitionMode mode, Map<Integer, Seen> before, Map<Integer, Seen> after,
                              ProcessList list) {
        Map<Integer, GuestProcess> engine = new HashMap<>();
        list.processes().forEach(p -> engine.put(p.pid(), p));
        int maxBefore = before.keySet().stream().mapToInt(Integer::intValue).max().orElse(0);
        int checked = 0;
        int workers = 0;
        for (Seen b : before.values()) {
            Seen a = after.get(b.pid());
            if (a == null) {
                continue;
            }
            GuestProcess p = engine.get(b.pid());
            assertThat(p).as("%s %s: pid %d (%s) is in both guest readings", vm, mode, b.pid(), b.comm()).isNotNull();
            if (a.equals(b)) { // unchanged between the readings: must match exactly
                assertThat(p.ppid()).as("%s %s ppid of %d", vm, mode, b.pid()).isEqualTo(b.ppid());
                if (p.comm().startsWith("kworker/") && !p.name().equals(b.comm())) {
                    // a workqueue worker's description follows the work item it last ran: it may have changed at
                    // the instant of the list and back by the second reading (HostileLabTest compares those exactly)
                    assertThat(b.comm()).as("%s %s name of worker %d", vm, mode, b.pid()).startsWith(p.comm());
                    workers++;
                } else {
                    assertThat(p.name()).as("%s %s name of %d", vm, mode, b.pid()).isEqualTo(b.comm());
                }
                assertThat(p.uid()).as("%s %s uid of %d", vm, mode, b.pid()).isEqualTo(b.uid());
                checked++;
            }
        }
        for (GuestProcess p : list.processes()) {
            if (!before.containsKey(p.pid()) && !after.containsKey(p.pid())) {
                // Only a process born after the first reading and gone before the second may be unseen by it.
                assertThat(p.pid()).as("%s %s: pid %d (%s) in neither guest reading", vm, mode, p.pid(), p.name())
                        .isGreaterThan(maxBefore);
            }
        }
        assertThat(checked).as("processes compared").isGreaterThan(20);
        System.out.printf("[%s] %s: %d processes unchanged in /proc around the list, names equal for %d (%d workers"
                + " whose description changed under the list)%n", vm, mode, checked, checked - workers, workers);
        return checked;
    }
}
