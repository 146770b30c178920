package dev.periscope.vmi.driver.libvirt;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The lab guest image's test shell (periscope-shelld on ttyS1, protocol in lab/README.md) reached through a
 * serial port that libvirt exposes as a unix socket: test plumbing to read what the guest itself sees.
 */
public final class GuestShell {

    /** Output and exit code of a script run in the guest. */
    public record Result(int exitCode, String output, String errors) {
    }

    private final Path socket;

    public GuestShell(Path socket) {
        this.socket = socket;
    }

    /** Runs {@code script} with the guest's /bin/sh; the guest kills it after {@code timeout}. */
    public synchronized Result exec(String script, Duration timeout) throws IOException {
        String id = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        String request = "\nREQ " + id + " " + timeout.toSeconds() + " "
                + Base64.getEncoder().encodeToString(script.getBytes(StandardCharsets.UTF_8)) + "\n";
        long deadline = System.nanoTime() + timeout.plusSeconds(5).toNanos();
        try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            channel.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.US_ASCII)));
            Thread watchdog = Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                    channel.close();
                } catch (InterruptedException | IOException e) {
                    // the reply came first
                }
            });
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                        StandardCharsets.US_ASCII));
                StringBuilder out = new StringBuilder();
                StringBuilder err = new StringBuilder();
                StringBuilder current = null;
                String line;
                while ((line = in.readLine()) != null) {
                    line = line.strip();
                    if (line.equals("OUT " + id)) {
                        current = out;
                    } else if (line.equals("ERR " + id) && current == out) {
                        current = err;
                    } else if (line.startsWith("END " + id + " ") && current == err) {
                        return new Result(Integer.parseInt(line.substring(line.lastIndexOf(' ') + 1)),
                                decode(out), decode(err));
                    } else if (current != null) {
                        current.append(line);
                    }
                }
                throw new IOException("the guest shell on " + socket + " gave no reply within " + timeout);
            } finally {
                watchdog.interrupt();
            }
        }
    }

    /** Waits until the guest's shell answers (the guest has booted). */
    public void awaitReady(Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try {
                if (exec("echo periscope-ready", Duration.ofSeconds(1)).output().strip().equals("periscope-ready")) {
                    return;
                }
            } catch (IOException e) {
                last = e;
            }
            Thread.sleep(500);
        }
        throw new IOException("guest shell on " + socket + " not ready within " + timeout, last);
    }

    private static String decode(StringBuilder base64) {
        return new String(Base64.getMimeDecoder().decode(base64.toString()), StandardCharsets.UTF_8);
    }
}
