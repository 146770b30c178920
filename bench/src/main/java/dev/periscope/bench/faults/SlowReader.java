package dev.periscope.bench.faults;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A slow SSE client: a plain socket with a 4 KiB receive buffer that reads 512 bytes every 50 ms (a phone on a bad
 * link, a stalled tab), so the server's writes back up to it; it can later catch up and read at full speed. It decodes
 * what it reads (HTTP/1.1, chunked) as it goes and counts the syscalls and the losses its drop markers report.
 */
final class SlowReader implements AutoCloseable {

    private static final int SLOW_CHUNK = 512;
    private static final Duration SLOW_PAUSE = Duration.ofMillis(50);

    private final Socket socket = new Socket();
    private final Thread reader;
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong syscalls = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean fast;
    private volatile boolean closing;

    // decoder state (reader thread only)
    private boolean inBody;
    private long chunkLeft = -1;
    private final ByteArrayOutputStream protocolLine = new ByteArrayOutputStream();
    private final ByteArrayOutputStream eventLine = new ByteArrayOutputStream();
    private String eventType = "";

    SlowReader(Api api, String session) throws IOException {
        URI base = URI.create(api.base());
        socket.setReceiveBufferSize(4096);
        socket.connect(new InetSocketAddress(base.getHost(), base.getPort()), 5000);
        OutputStream out = socket.getOutputStream();
        out.write(("GET /api/v1/sessions/" + session + "/events HTTP/1.1\r\nHost: " + base.getHost() + ":"
                + base.getPort() + "\r\nAuthorization: Bearer " + api.token() + "\r\nAccept: text/event-stream\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        InputStream in = socket.getInputStream();
        reader = Thread.ofPlatform().daemon().name("slow-sse-" + session).start(() -> {
            byte[] buffer = new byte[1 << 16];
            try {
                while (!closing) {
                    int n = in.read(buffer, 0, fast ? buffer.length : SLOW_CHUNK);
                    if (n < 0) {
                        break;
                    }
                    bytes.addAndGet(n);
                    for (int i = 0; i < n; i++) {
                        decode(buffer[i]);
                    }
                    if (!fast) {
                        Thread.sleep(SLOW_PAUSE.toMillis());
                    }
                }
            } catch (IOException | InterruptedException e) {
                // closed by the suite
            }
        });
    }

    /** One byte of the response: headers, then chunk sizes and chunk data, whose lines are the SSE events. */
    private void decode(byte b) {
        if (inBody && chunkLeft > 0) {
            chunkLeft--;
            if (b == '\n') {
                sseLine(eventLine.toString(StandardCharsets.UTF_8));
                eventLine.reset();
            } else {
                eventLine.write(b);
            }
            return;
        }
        if (b != '\n') {
            if (b != '\r') {
                protocolLine.write(b);
            }
            return;
        }
        String text = protocolLine.toString(StandardCharsets.US_ASCII);
        protocolLine.reset();
        if (!inBody) {
            inBody = text.isEmpty(); // the blank line after the headers
        } else if (!text.isEmpty()) {
            chunkLeft = Long.parseLong(text.strip(), 16); // a chunk's size line (the CRLF after its data is skipped)
        }
    }

    private void sseLine(String text) {
        if (text.startsWith("event:")) {
            eventType = text.substring(6).strip();
        } else if (text.startsWith("data:")) {
            if (eventType.equals("syscall")) {
                syscalls.incrementAndGet();
            } else if (eventType.equals("dropped")) {
                dropped.addAndGet(Api.JSON.readTree(text.substring(5)).path("data").path("count").asLong(0));
            }
        }
    }

    /** From now on reads as fast as it can (the link got better). */
    void catchUp() {
        fast = true;
    }

    long bytes() {
        return bytes.get();
    }

    long syscalls() {
        return syscalls.get();
    }

    /** The events the drop markers it received say it lost. */
    long dropped() {
        return dropped.get();
    }

    @Override
    public void close() throws IOException {
        closing = true;
        socket.close();
        reader.interrupt();
        try {
            reader.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
