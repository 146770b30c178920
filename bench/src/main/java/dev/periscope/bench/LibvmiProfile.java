package dev.periscope.bench;

import dev.periscope.vmi.driver.image.MemoryImage;
import dev.periscope.vmi.driver.image.RawLayout;
import dev.periscope.vmi.linux.KernelOffsets;
import dev.periscope.vmi.linux.KernelProfile;
import dev.periscope.vmi.linux.KernelProfileCache;
import dev.periscope.vmi.linux.LinuxModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The libvmi.conf entry of a raw RAM image, for bench/image.sh's LibVMI baseline: what a person writes by hand for
 * LibVMI's Linux support (the five struct offsets it asks for, the System.map, and, when given, the per-boot page
 * table root and KASLR offset), taken here from what Periscope's engine decodes, so that the comparison needs no
 * manual step. The page table root is vCPU 0's CR3 at the dump, from the image's {@code .cr3} file. LibVMI's own
 * process list then checks the entry: wrong offsets list nothing.
 *
 * <p>usage: LibvmiProfile IMAGE SYSTEM_MAP with|without
 */
public final class LibvmiProfile {

    private LibvmiProfile() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 3 || !(args[2].equals("with") || args[2].equals("without"))) {
            System.err.println("usage: LibvmiProfile IMAGE SYSTEM_MAP with|without");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        try (MemoryImage image = MemoryImage.open(file, RawLayout.FLAT)) {
            KernelProfile profile = LinuxModel.profile(image.memory(), new KernelProfileCache());
            KernelOffsets o = profile.offsets();
            StringBuilder entry = new StringBuilder(file.getFileName() + " {\n")
                    .append("    ostype = \"Linux\";\n")
                    .append("    sysmap = \"").append(Path.of(args[1]).toAbsolutePath()).append("\";\n")
                    .append(hex("linux_tasks", o.taskTasks()))
                    .append(hex("linux_mm", o.taskMm()))
                    .append(hex("linux_pid", o.taskPid()))
                    .append(hex("linux_name", o.taskComm()))
                    .append(hex("linux_pgd", o.mmPgd()));
            if (args[2].equals("with")) {
                long cr3 = Long.parseUnsignedLong(Files.readString(Path.of(file + ".cr3")).trim(), 16);
                // LibVMI skips its own paging probe when kpgd is given, so the mode must be given with it.
                entry.append("    pagemode = \"VMI_PM_IA32E\";\n")
                        .append(hex("kpgd", cr3 & ~0xfffL))
                        .append(hex("linux_kaslr", profile.kaslrSlide()));
            }
            System.out.print(entry.append("}\n"));
        }
    }

    private static String hex(String key, long value) {
        return "    " + key + " = 0x" + Long.toHexString(value) + ";\n";
    }
}
