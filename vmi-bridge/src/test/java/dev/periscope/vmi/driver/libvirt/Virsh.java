package dev.periscope.vmi.driver.libvirt;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@code virsh -c qemu:///system}: test and benchmark plumbing that talks to libvirt independently of the driver. */
public final class Virsh {

    /** Output and exit code of a virsh command. */
    public record Result(int exitCode, String output) {
        public Result orThrow() {
            if (exitCode != 0) {
                throw new IllegalStateException("virsh failed (" + exitCode + "): " + output);
            }
            return this;
        }
    }

    private Virsh() {
    }

    /** Runs {@code virsh -q -c qemu:///system ARGS}; exit code 127 when virsh is not installed. */
    public static Result run(String... arguments) {
        List<String> command = new ArrayList<>(List.of("virsh", "-q", "-c", LibvirtConfig.SYSTEM_URI));
        command.addAll(List.of(arguments));
        try {
            Process p;
            try {
                p = new ProcessBuilder(command).redirectErrorStream(true).start();
            } catch (IOException e) {
                return new Result(127, "virsh not installed: " + e.getMessage());
            }
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("virsh " + arguments[0] + " timed out");
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running virsh", e);
        }
    }
}
