package dev.periscope.vmi.trace;

import dev.periscope.vmi.VmiEngine;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.lab.LabVm;
import org.junit.jupiter.api.Test;

/**
 * The other lab kernel, Debian's 6.12 (its {@code sys_call_table} has the calls up to mseal; {@code x64_sys_call}
 * dispatches): syscall results and decoding checked against the probe and strace in the guest ({@link SyscallProbe}),
 * with M5. The default kernel (6.1) is checked in {@link TraceLabTest}'s guest.
 */
class Kernel612TraceLabTest {

    @Test
    void resultsAndDecodingMatchTheGuestAndStrace() {
        LabVm.assumeLabEnabled();
        String vm = "tr-612-" + Long.toString(ProcessHandle.current().pid() % 100000, 36);
        try (LabVm guest = LabVm.start(vm, "--tools", "--workload", "busy", "--kernel-package",
                "linux-image-6.12.95+deb12-amd64-unsigned");
             VmiEngine engine = new VmiEngine(new LabDriver(LabVm.varDir()))) {
            SyscallProbe.check(guest, engine, TraceMethod.M5);
        }
    }
}
