package dev.periscope.vmi.linux;

import dev.periscope.vmi.driver.lab.LabVm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The lab's test kernel modules ({@code lab/modules}: periscope_dkom.ko hides a process, periscope_names.ko makes
 * kernel threads and workqueue workers with long names) built for a guest kernel by {@code lab/modules/build.sh},
 * and a lab workload that carries them into the guest: the busy workload, the modules in {@code
 * /tmp/periscope-modules}, and a victim process {@code dkom-victim} whose pid is in {@code /tmp/dkom-victim.pid}.
 * The modules travel inside the workload script as base64 because {@code lab.sh start --workload FILE} copies that
 * one file into the guest.
 */
final class LabModules {

    static final String DIR = "/tmp/periscope-modules";
    static final String VICTIM = "dkom-victim";

    private LabModules() {
    }

    /** Builds (or finds cached) the modules for a kernel package ("" = the lab's default); returns their directory. */
    static Path build(String kernelPackage) {
        List<String> command = new ArrayList<>(List.of(LabVm.repo().resolve("lab/modules/build.sh").toString()));
        if (!kernelPackage.isEmpty()) {
            command.addAll(List.of("--kernel-package", kernelPackage));
        }
        try {
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(600, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("lab/modules/build.sh failed (" + p.exitValue() + ")");
            }
            return Path.of(out);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run lab/modules/build.sh", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Waits until the guest's workload has unpacked the modules and started the victim (it runs beside boot). */
    static void awaitReady(LabVm guest) {
        LabVm.Result r = guest.exec("sh", "-c", "for i in $(seq 1 300); do [ -f " + DIR + "/ready ] && exit 0; "
                + "sleep 0.2; done; exit 1");
        if (!r.ok()) {
            throw new IllegalStateException("the workload did not unpack the modules within 60 s: " + r.output());
        }
    }

    /** Writes the workload file (busy processes, the modules, the victim) for modules built in {@code modules}. */
    static Path workload(Path modules, Path file) throws IOException {
        StringBuilder sh = new StringBuilder("""
                # Periscope hostile-guest lab workload: the busy processes, the lab's test modules, a process to hide.
                . /periscope/workloads/busy.sh
                mkdir -p %s
                """.formatted(DIR));
        for (String module : List.of("periscope_dkom", "periscope_names")) {
            byte[] ko = Files.readAllBytes(modules.resolve(module + ".ko"));
            sh.append("base64 -d > ").append(DIR).append('/').append(module).append(".ko <<'PERISCOPE_KO'\n")
                    .append(Base64.getMimeEncoder(76, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(ko))
                    .append("\nPERISCOPE_KO\n");
        }
        sh.append("""
                printf '#!/bin/sh\\nwhile :; do sleep 1; done\\n' > /tmp/%1$s
                chmod +x /tmp/%1$s
                /tmp/%1$s &
                echo $! > /tmp/%1$s.pid
                touch %2$s/ready
                """.formatted(VICTIM, DIR));
        Files.createDirectories(file.getParent());
        Files.writeString(file, sh);
        return file;
    }
}
