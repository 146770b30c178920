package dev.periscope.vmi.driver.qemu;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.driver.VcpuRegisters;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses QEMU's HMP "info registers" text (x86-64 target). QEMU does not print MSR_KERNEL_GS_BASE there, so
 * {@link VcpuRegisters#kernelGsBase()} is 0 (unknown); when the vCPU is in the kernel GS base is the per-CPU
 * base.
 */
public final class RegisterDump {

    private static final Pattern CPU = Pattern.compile("^CPU#(\\d+)", Pattern.MULTILINE);
    private static final Pattern CR3 = Pattern.compile("\\bCR3=([0-9a-fA-F]+)");
    private static final Pattern CR4 = Pattern.compile("\\bCR4=([0-9a-fA-F]+)");
    private static final Pattern EFER = Pattern.compile("\\bEFER=([0-9a-fA-F]+)");
    private static final Pattern RIP = Pattern.compile("\\bRIP=([0-9a-fA-F]+)");
    private static final Pattern GS = Pattern.compile("^GS =[0-9a-fA-F]+ ([0-9a-fA-F]+)", Pattern.MULTILINE);

    private RegisterDump() {
    }

    /** Registers of {@code vcpu} from the output of "info registers -a" (or "info registers" for one CPU). */
    public static VcpuRegisters parse(String text, int vcpu) {
        String section = section(text, vcpu);
        return new VcpuRegisters(vcpu, hex(CR3, section), hex(CR4, section), hex(EFER, section), hex(RIP, section),
                hex(GS, section), 0);
    }

    private static String section(String text, int vcpu) {
        Matcher m = CPU.matcher(text);
        int start = -1;
        while (m.find()) {
            if (start >= 0) {
                return text.substring(start, m.start());
            }
            if (Integer.parseInt(m.group(1)) == vcpu) {
                start = m.start();
            }
        }
        if (start >= 0) {
            return text.substring(start);
        }
        throw new PlatformUnavailableException("QEMU printed no registers for vCPU " + vcpu);
    }

    private static long hex(Pattern pattern, String text) {
        Matcher m = pattern.matcher(text);
        if (!m.find()) {
            throw new PlatformUnavailableException("QEMU's register dump lacks " + pattern.pattern());
        }
        return Long.parseUnsignedLong(m.group(1), 16);
    }
}
