package dev.periscope.bench.faults;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Host commands the faults use (signals, docker, mount): run to completion, output kept, never left running. */
final class Commands {

    private Commands() {
    }

    /** What a command printed (stdout and stderr together) and how it exited. */
    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    /** Runs {@code command}, waiting at most {@code timeout}. */
    static Result run(Duration timeout, String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[][] out = new byte[1][];
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    out[0] = p.getInputStream().readAllBytes();
                } catch (IOException e) {
                    out[0] = new byte[0];
                }
            });
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                reader.join(5000);
                return new Result(-1, String.join(" ", command) + " timed out after " + timeout);
            }
            reader.join();
            return new Result(p.exitValue(), new String(out[0], StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Result(-1, "cannot run " + String.join(" ", command) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted running " + String.join(" ", command));
        }
    }

    /** As {@link #run}, failing when the command does. */
    static String check(Duration timeout, String... command) {
        Result r = run(timeout, command);
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + r.exitCode() + "): "
                    + r.output().strip());
        }
        return r.output();
    }

    /** Sends {@code signal} (KILL, STOP, CONT, TERM) to {@code pid}. */
    static void signal(long pid, String signal) {
        check(Duration.ofSeconds(10), "kill", "-" + signal, Long.toString(pid));
    }

    /** Whether a Docker engine answers. */
    static boolean docker() {
        return run(Duration.ofSeconds(20), "docker", "info").ok();
    }

    static boolean root() {
        return "root".equals(System.getProperty("user.name"));
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
