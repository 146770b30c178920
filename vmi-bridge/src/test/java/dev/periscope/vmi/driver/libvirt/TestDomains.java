package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * libvirt domains for tests and benchmarks, defined with plain libvirt XML ({@code <domain type='qemu'>}: TCG,
 * q35) that boot the lab's kernel and initramfs with no Periscope settings: the console on a file and the guest's
 * test shell (ttyS1) on a unix socket {@code shell.sock} in the domain's directory. Each domain gets its own
 * directory under a work directory QEMU can reach, with its own copies of kernel and initramfs: libvirt relabels
 * the files a domain boots from to its QEMU's user, so domains with different users cannot share them (nor the
 * lab's cache).
 */
public final class TestDomains implements AutoCloseable {

    /**
     * One domain to define.
     *
     * @param name          its name
     * @param memoryMib     its memory
     * @param kernelPackage the lab kernel package ("" = the lab's default)
     * @param workload      the lab workload the guest runs
     * @param elements      extra XML in {@code <domain>} (metadata, memoryBacking, seclabel), "" for none
     */
    public record Spec(String name, int memoryMib, String kernelPackage, String workload, String elements) {
    }

    /** QEMU as root, by the domain's DAC label: it may use userfaultfd, so background snapshots work. */
    public static final String ROOT_QEMU = "<seclabel type='static' model='dac' relabel='yes'><label>+0:+0</label>"
            + "</seclabel>";
    /** Guest RAM in a shared file (memory-backend-file with share=on, under libvirt's memory_backing_dir). */
    public static final String SHARED_FILE_RAM = "<memoryBacking><source type='file'/><access mode='shared'/>"
            + "</memoryBacking>";

    private final Path work;

    private TestDomains(Path work) {
        this.work = work;
    }

    /** A work directory QEMU (user libvirt-qemu) can traverse. */
    public static TestDomains create() {
        try {
            Path work = Files.createTempDirectory("periscope-libvirt");
            Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
            return new TestDomains(work);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The domain's directory (its XML, kernel, initramfs, console.log, shell.sock). */
    public Path dir(String name) {
        return work.resolve(name);
    }

    /** The guest's test shell. */
    public Path shellSocket(String name) {
        return dir(name).resolve("shell.sock");
    }

    /** Writes the domain's directory and XML; returns the XML file, for {@code virsh define} or {@code create}. */
    public Path prepare(Spec spec) {
        try {
            Path dir = Files.createDirectories(dir(spec.name()));
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.copy(kernel(spec.kernelPackage()), dir.resolve("vmlinuz"));
            Files.copy(labInitramfs(), dir.resolve("initrd.img"));
            Path xml = dir.resolve("domain.xml");
            Files.writeString(xml, xml(spec, dir));
            return xml;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Defines and starts the domain (persistent: it stays defined when it stops). */
    public void defineAndStart(Spec spec) {
        Virsh.run("define", prepare(spec).toString()).orThrow();
        Virsh.run("start", spec.name()).orThrow();
    }

    /** Starts the domain without defining it (transient: it is gone when it stops). */
    public void start(Spec spec) {
        Virsh.run("create", prepare(spec).toString()).orThrow();
    }

    /** Destroys and undefines a domain, whatever state it is in. */
    public static void discard(String name) {
        Virsh.run("destroy", name);
        Virsh.run("undefine", name);
    }

    /** Deletes the work directory. */
    @Override
    public void close() {
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String xml(Spec spec, Path dir) {
        return """
                <domain type='qemu'>
                  <name>%1$s</name>
                  <memory unit='MiB'>%2$d</memory>
                  <vcpu>1</vcpu>
                  %5$s
                  <os>
                    <type arch='x86_64' machine='q35'>hvm</type>
                    <kernel>%3$s/vmlinuz</kernel>
                    <initrd>%3$s/initrd.img</initrd>
                    <cmdline>console=ttyS0 panic=-1 quiet periscope.name=%1$s periscope.workload=%4$s</cmdline>
                  </os>
                  <features><acpi/><apic/></features>
                  <on_poweroff>destroy</on_poweroff>
                  <on_reboot>destroy</on_reboot>
                  <on_crash>destroy</on_crash>
                  <devices>
                    <serial type='file'><source path='%3$s/console.log'/><target port='0'/></serial>
                    <serial type='unix'><source mode='bind' path='%3$s/shell.sock'/><target port='1'/></serial>
                  </devices>
                </domain>
                """.formatted(spec.name(), spec.memoryMib(), dir, spec.workload(), spec.elements());
    }

    /** The lab's kernel of a package ("" = the default), downloaded into the lab cache by lab.sh if needed. */
    private static Path kernel(String kernelPackage) {
        List<String> command = new ArrayList<>(List.of("kernel-path"));
        if (!kernelPackage.isEmpty()) {
            command.addAll(List.of("--kernel-package", kernelPackage));
        }
        return labPath(command);
    }

    /** The lab's guest image (lab.sh builds and caches it when needed). */
    private static Path labInitramfs() {
        return labPath(List.of("initramfs-path"));
    }

    /** A path lab.sh prints for {@code arguments}. */
    private static Path labPath(List<String> arguments) {
        List<String> command = new ArrayList<>(List.of(LabVm.repo().resolve("lab/lab.sh").toString()));
        command.addAll(arguments);
        try {
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String path = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0 || path.isEmpty()) {
                throw new IllegalStateException(String.join(" ", command) + " failed");
            }
            return Path.of(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

}
