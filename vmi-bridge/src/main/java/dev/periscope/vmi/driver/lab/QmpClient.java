package dev.periscope.vmi.driver.lab;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.qemu.QemuMonitor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A QEMU Machine Protocol client over a unix socket: JSON lines, the capabilities handshake, replies matched to
 * requests by id, asynchronous events handed to listeners. Thread-safe: one reader thread, writers serialised.
 *
 * <p>A missing socket, a refused connection or QEMU going away mid-call is {@link VmGoneException}; an error
 * reply is {@link PlatformUnavailableException} carrying QEMU's own message.
 */
final class QmpClient implements QemuMonitor, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(QmpClient.class);
    static final JsonMapper JSON = JsonMapper.builder().build();

    private final Path socket;
    private final SocketChannel channel;
    private final Duration timeout;
    private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Consumer<JsonNode>> listeners = new CopyOnWriteArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final Thread reader;
    private volatile boolean closed;

    private QmpClient(Path socket, SocketChannel channel, Duration timeout) {
        this.socket = socket;
        this.channel = channel;
        this.timeout = timeout;
        this.reader = Thread.ofVirtual().name("qmp-" + socket.getFileName()).start(this::readLoop);
    }

    /** Connects and negotiates capabilities; {@code timeout} bounds each request. */
    static QmpClient connect(Path socket, Duration timeout) {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        } catch (ConnectException | NoSuchFileException e) {
            throw new VmGoneException("QMP socket " + socket + " refuses connections: " + e.getMessage(), e);
        } catch (SocketException e) {
            throw new VmGoneException("QMP socket " + socket + " is unavailable: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new VmGoneException("cannot connect to QMP socket " + socket + ": " + e.getMessage(), e);
        }
        QmpClient client = new QmpClient(socket, channel, timeout);
        try {
            client.await(client.greeting, "greeting");
            client.execute("qmp_capabilities");
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    @Override
    public JsonNode execute(String command, Map<String, ?> arguments) {
        if (closed) {
            throw new VmGoneException("QMP connection to " + socket + " is closed");
        }
        long id = ids.incrementAndGet();
        ObjectNode request = JSON.createObjectNode();
        request.put("execute", command);
        if (arguments != null) {
            request.set("arguments", JSON.valueToTree(arguments));
        }
        request.put("id", id);
        CompletableFuture<JsonNode> reply = new CompletableFuture<>();
        pending.put(id, reply);
        try {
            if (closed) { // the reader may have failed the pending replies just before ours was added
                throw new VmGoneException("QEMU closed its QMP socket " + socket);
            }
            write(request.toString() + "\n");
            JsonNode response = await(reply, command);
            if (response.has("error")) {
                JsonNode error = response.get("error");
                throw new PlatformUnavailableException("QEMU refused " + command + ": "
                        + error.path("desc").asString(error.toString()) + " (" + error.path("class").asString("") + ")");
            }
            return response.path("return");
        } finally {
            pending.remove(id);
        }
    }

    @Override
    public String humanMonitor(String commandLine) {
        return execute("human-monitor-command", Map.of("command-line", commandLine)).asString("");
    }

    /** Calls {@code listener} with each asynchronous event (an object with "event" and "timestamp"). */
    AutoCloseable onEvent(Consumer<JsonNode> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    boolean isOpen() {
        return !closed;
    }

    private synchronized void write(String line) {
        ByteBuffer buffer = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
        try {
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        } catch (IOException e) {
            close();
            throw new VmGoneException("QEMU closed its QMP socket " + socket, e);
        }
    }

    private JsonNode await(CompletableFuture<JsonNode> future, String what) {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new PlatformUnavailableException("QMP " + what + " got no reply within " + timeout + " on " + socket);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PlatformUnavailableException("interrupted waiting for QMP " + what, e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new VmGoneException("QMP " + what + " failed", e.getCause());
        }
    }

    private void readLoop() {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        var line = new ByteArrayOutputStream();
        try {
            while (true) {
                buffer.clear();
                if (channel.read(buffer) < 0) {
                    break;
                }
                buffer.flip();
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        dispatch(line.toString(StandardCharsets.UTF_8));
                        line.reset();
                    } else {
                        line.write(b);
                    }
                }
            }
        } catch (ClosedChannelException e) {
            // closed by us
        } catch (IOException e) {
            log.debug("QMP read from {} failed", socket, e);
        }
        closed = true;
        var gone = new VmGoneException("QEMU closed its QMP socket " + socket);
        greeting.completeExceptionally(gone);
        pending.values().forEach(f -> f.completeExceptionally(gone));
    }

    private void dispatch(String text) {
        if (text.isBlank()) {
            return;
        }
        JsonNode message;
        try {
            message = JSON.readTree(text);
        } catch (RuntimeException e) {
            log.warn("unparseable QMP message from {}: {}", socket, text);
            return;
        }
        if (message.has("QMP")) {
            greeting.complete(message);
        } else if (message.has("event")) {
            for (Consumer<JsonNode> listener : listeners) {
                try {
                    listener.accept(message);
                } catch (RuntimeException e) {
                    log.warn("QMP event listener failed", e);
                }
            }
        } else if (message.has("id")) {
            CompletableFuture<JsonNode> reply = pending.get(message.get("id").asLong());
            if (reply != null) {
                reply.complete(message);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing QMP socket {}", socket, e);
        }
        reader.interrupt();
    }
}
