package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The host's real libvirt for tests: used when one answers on {@code qemu:///system}, otherwise started here
 * (virtlogd and libvirtd in the foreground, as children of this JVM, stopped when it exits). Needs root: tests
 * that need libvirt skip without it, and with {@code -Dperiscope.lab.skip=true}; lab/setup.sh installs libvirt.
 */
final class Libvirtd {

    private static boolean ready;

    private Libvirtd() {
    }

    /** Skips the calling test unless libvirt can be used here; starts libvirtd when none runs. */
    static synchronized void assumeRunning() throws IOException, InterruptedException {
        LabVm.assumeLabEnabled();
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
                "libvirt tests need root (they define domains on qemu:///system and read their QEMU processes)");
        if (ready) {
            return;
        }
        if (Virsh.run("version").exitCode() != 0) {
            Path log = Files.createDirectories(LabVm.varDir().resolve("libvirt-test"));
            if (!Files.exists(Path.of("/run/libvirt/virtlogd-sock"))) {
                start(List.of("/usr/sbin/virtlogd"), log.resolve("virtlogd.log"));
            }
            start(List.of("/usr/sbin/libvirtd"), log.resolve("libvirtd.log"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Virsh.run("version").exitCode() != 0) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("libvirtd did not answer within 30 s (see " + log + ")");
                }
                Thread.sleep(200);
            }
        }
        ready = true;
    }

    private static void start(List<String> command, Path log) throws IOException {
        if (!Files.isExecutable(Path.of(command.getFirst()))) {
            throw new IllegalStateException(command.getFirst() + " is not installed: run lab/setup.sh as root");
        }
        Process daemon = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            daemon.destroy();
            try {
                daemon.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }));
    }
}
