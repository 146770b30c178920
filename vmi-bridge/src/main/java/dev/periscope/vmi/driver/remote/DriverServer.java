package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.lab.LabDriver;
import dev.periscope.vmi.driver.xen.XenDriver;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one {@link HypervisorDriver} to {@link RemoteDriver} clients that present the token: one thread per
 * connection (driver calls block, some in native code), at most {@value #MAX_CONNECTIONS} connections.
 *
 * <p>Run in the Xen lab's dom0: {@code java -cp periscope-agent.jar dev.periscope.vmi.driver.remote.DriverServer
 * --platform xen --listen 0.0.0.0:7370 --token-file FILE}.
 */
public final class DriverServer implements AutoCloseable {

    static final int MAX_CONNECTIONS = 16;
    private static final Logger log = LoggerFactory.getLogger(DriverServer.class);

    private final HypervisorDriver driver;
    private final byte[] token;
    private final ServerSocket listener;
    private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger connectionCount = new AtomicInteger();
    private final Thread acceptor;
    private volatile boolean closed;

    /** Starts listening at once; the driver stays the caller's (close it after the server). */
    public DriverServer(HypervisorDriver driver, InetSocketAddress listen, String token) throws IOException {
        if (token.isBlank() || token.length() > Wire.MAX_TOKEN) {
            throw new IllegalArgumentException("a token of 1 to " + Wire.MAX_TOKEN + " characters is required");
        }
        this.driver = driver;
        this.token = token.getBytes(StandardCharsets.UTF_8);
        this.listener = new ServerSocket();
        listener.setReuseAddress(true);
        listener.bind(listen);
        this.acceptor = Thread.ofPlatform().name("driver-server-accept").daemon().start(this::accept);
    }

    /** The port it listens on (the one asked for, or the one the system chose for port 0). */
    public int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        while (!closed) {
            Socket s;
            try {
                s = listener.accept();
            } catch (IOException e) {
                if (!closed) {
                    log.warn("driver server: accept failed: {}", e.toString());
                }
                return;
            }
            if (connectionCount.incrementAndGet() > MAX_CONNECTIONS) {
                connectionCount.decrementAndGet();
                log.warn("driver server: refusing {}: {} connections already", s.getRemoteSocketAddress(), MAX_CONNECTIONS);
                closeQuietly(s);
                continue;
            }
            connections.add(s);
            Thread.ofPlatform().name("driver-server-" + s.getPort()).daemon().start(() -> {
                try {
                    new Connection(s).serve();
                } finally {
                    connections.remove(s);
                    connectionCount.decrementAndGet();
                    closeQuietly(s);
                }
            });
        }
    }

    /** One client: at most one attached domain and its snapshots, released when the client goes. */
    private final class Connection {
        private final Socket socket;
        private Domain domain;
        private final Map<Integer, MemorySnapshot> snapshots = new HashMap<>();
        private int nextSnapshot = 1;

        Connection(Socket socket) {
            this.socket = socket;
        }

        void serve() {
            try (socket) {
                socket.setTcpNoDelay(true);
                DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
                if (!handshake(in, out)) {
                    return;
                }
                while (true) {
                    byte op;
                    try {
                        op = in.readByte();
                    } catch (EOFException e) {
                        return;
                    }
                    try {
                        handle(op, in, out);
                    } catch (Wire.BadRequest e) {
                        fail(out, e); // the rest of the stream cannot be trusted
                        return;
                    } catch (RuntimeException e) {
                        fail(out, e);
                    }
                    out.flush();
                }
            } catch (SocketException | EOFException e) {
                log.debug("driver server: {} went away: {}", socket.getRemoteSocketAddress(), e.toString());
            } catch (IOException e) {
                log.warn("driver server: {}: {}", socket.getRemoteSocketAddress(), e.toString());
            } finally {
                release();
            }
        }

        private boolean handshake(DataInputStream in, DataOutputStream out) throws IOException {
            socket.setSoTimeout(10_000); // a silent peer does not hold a connection slot
            int magic = in.readInt();
            int n = in.readUnsignedShort();
            if (magic != Wire.MAGIC || n > Wire.MAX_TOKEN) {
                return false;
            }
            byte[] presented = in.readNBytes(n);
            socket.setSoTimeout(0);
            if (!MessageDigest.isEqual(presented, token)) {
                log.warn("driver server: {} presented a wrong token", socket.getRemoteSocketAddress());
                out.writeByte(Wire.REFUSED);
                out.writeUTF("wrong token");
                out.flush();
                return false;
            }
            out.writeByte(Wire.OK);
            out.writeUTF(driver.platform());
            out.flush();
            return true;
        }

        private void handle(byte op, DataInputStream in, DataOutputStream out) throws IOException {
            switch (op) {
                case Wire.DOMAINS -> {
                    var all = driver.domains();
                    out.writeByte(Wire.OK);
                    out.writeInt(all.size());
                    for (var d : all) {
                        Wire.writeInfo(out, d);
                    }
                }
                case Wire.DOMAIN -> {
                    var d = driver.domain(in.readUTF());
                    out.writeByte(Wire.OK);
                    out.writeBoolean(d.isPresent());
                    if (d.isPresent()) {
                        Wire.writeInfo(out, d.get());
                    }
                }
                case Wire.CAPABILITIES -> {
                    var caps = driver.capabilities(in.readUTF());
                    out.writeByte(Wire.OK);
                    Wire.writeCapabilities(out, caps);
                }
                case Wire.OPEN -> {
                    String name = in.readUTF();
                    if (domain != null) {
                        throw new Wire.BadRequest("this connection has a domain attached already");
                    }
                    domain = driver.open(name);
                    out.writeByte(Wire.OK);
                    Wire.writeInfo(out, domain.info());
                    Wire.writeCapabilities(out, domain.capabilities());
                    out.writeInt(domain.vcpuCount());
                    out.writeLong(domain.memory().size());
                    out.writeBoolean(domain.memory().pageTablesHoldMachineFrames());
                }
                case Wire.READ_PAGES -> {
                    PhysicalMemory memory = memory(in.readInt());
                    long first = in.readLong();
                    int count = in.readInt();
                    if (count < 1 || count > Wire.MAX_PAGES || first < 0 || first > (Long.MAX_VALUE >> 12) - count) {
                        throw new Wire.BadRequest("READ_PAGES of " + count + " pages from page " + first);
                    }
                    byte[] page = new byte[Wire.PAGE];
                    out.writeByte(Wire.OK);
                    for (long p = first; p < first + count; p++) {
                        if (readPage(memory, p, page)) {
                            out.writeBoolean(true);
                            out.write(page);
                        } else {
                            out.writeBoolean(false);
                        }
                    }
                }
                case Wire.INDEX_OF -> {
                    PhysicalMemory memory = memory(in.readInt());
                    int n = in.readInt();
                    if (n < 1 || n > Wire.MAX_NEEDLE) {
                        throw new Wire.BadRequest("a needle of " + n + " bytes");
                    }
                    byte[] needle = in.readNBytes(n);
                    long from = in.readLong();
                    long to = in.readLong();
                    long at = memory.indexOf(needle, from, to);
                    out.writeByte(Wire.OK);
                    out.writeLong(at);
                }
                case Wire.PAGE_TABLE_FRAME -> {
                    PhysicalMemory memory = memory(in.readInt());
                    long at = memory.pageTableFrame(in.readLong());
                    out.writeByte(Wire.OK);
                    out.writeLong(at);
                }
                case Wire.REGISTERS -> {
                    int space = in.readInt();
                    int vcpu = in.readInt();
                    var r = space == Wire.LIVE ? attached().registers(vcpu) : snapshot(space).registers(vcpu);
                    out.writeByte(Wire.OK);
                    Wire.writeRegisters(out, r);
                }
                case Wire.PAUSE -> {
                    attached().pause();
                    out.writeByte(Wire.OK);
                }
                case Wire.RESUME -> {
                    Domain d = attached();
                    d.resume();
                    out.writeByte(Wire.OK);
                    out.writeLong(d.lastPauseDuration().toNanos());
                }
                case Wire.SNAPSHOT -> {
                    MemorySnapshot s = attached().snapshot();
                    int id = nextSnapshot++;
                    snapshots.put(id, s);
                    out.writeByte(Wire.OK);
                    out.writeInt(id);
                    out.writeLong(s.memory().size());
                    out.writeBoolean(s.memory().pageTablesHoldMachineFrames());
                    Wire.writeInstant(out, s.takenAt());
                    out.writeLong(s.guestDowntime().toNanos());
                    out.writeLong(s.totalTime().toNanos());
                }
                case Wire.CLOSE_SNAPSHOT -> {
                    MemorySnapshot s = snapshots.remove(in.readInt());
                    if (s != null) {
                        s.close();
                    }
                    out.writeByte(Wire.OK);
                }
                default -> throw new Wire.BadRequest("unknown operation " + op);
            }
        }

        /** Whether the page is present; a page the memory reports absent is not an error of the request. */
        private static boolean readPage(PhysicalMemory memory, long page, byte[] into) {
            long address = page << 12;
            if (address >= memory.size()) {
                return false;
            }
            try {
                memory.read(address, into, 0, Wire.PAGE);
                return true;
            } catch (PageNotPresentException e) {
                return false;
            }
        }

        private Domain attached() {
            if (domain == null) {
                throw new Wire.BadRequest("no domain attached on this connection");
            }
            return domain;
        }

        private MemorySnapshot snapshot(int space) {
            MemorySnapshot s = snapshots.get(space);
            if (s == null) {
                throw new Wire.BadRequest("no snapshot " + space + " on this connection");
            }
            return s;
        }

        private PhysicalMemory memory(int space) {
            return space == Wire.LIVE ? attached().memory() : snapshot(space).memory();
        }

        private void fail(DataOutputStream out, RuntimeException e) throws IOException {
            if (!(e instanceof VmiException)) {
                log.debug("driver server: request failed", e);
            }
            out.writeByte(Wire.statusOf(e));
            out.writeUTF(Wire.messageOf(e));
            out.writeLong(e instanceof PageNotPresentException p ? p.address() : -1);
            out.flush();
        }

        private void release() {
            snapshots.values().forEach(s -> {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    log.warn("driver server: closing a snapshot failed: {}", e.toString());
                }
            });
            snapshots.clear();
            if (domain != null) {
                try {
                    domain.close();
                } catch (RuntimeException e) {
                    log.warn("driver server: closing {} failed: {}", domain.info().name(), e.toString());
                }
                domain = null;
            }
        }
    }

    /** Stops accepting, drops every connection (each releases its domain) and waits for the acceptor. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(listener);
        connections.forEach(DriverServer::closeQuietly);
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            log.debug("driver server: close: {}", e.toString());
        }
    }

    /** {@code --platform xen|qemu-lab --listen HOST:PORT --token-file FILE [--lab-var DIR]}; runs until killed. */
    public static void main(String[] args) throws Exception {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                usage("unexpected argument " + args[i]);
            }
            options.put(args[i].substring(2), args[i + 1]);
        }
        if (args.length % 2 != 0) {
            usage("option " + args[args.length - 1] + " needs a value");
        }
        String listen = options.getOrDefault("listen", "127.0.0.1:7370");
        int colon = listen.lastIndexOf(':');
        if (colon < 1 || !options.containsKey("token-file")) {
            usage("--listen HOST:PORT and --token-file FILE are required");
        }
        String token = Files.readString(Path.of(options.get("token-file"))).strip();
        HypervisorDriver driver = switch (options.getOrDefault("platform", XenDriver.PLATFORM)) {
            case XenDriver.PLATFORM -> new XenDriver();
            case LabDriver.PLATFORM -> new LabDriver(Path.of(options.getOrDefault("lab-var", "var")));
            default -> {
                usage("--platform must be " + XenDriver.PLATFORM + " or " + LabDriver.PLATFORM);
                yield null;
            }
        };
        InetSocketAddress address = new InetSocketAddress(listen.substring(0, colon),
                Integer.parseInt(listen.substring(colon + 1)));
        DriverServer server = new DriverServer(driver, address, token);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            driver.close();
        }));
        System.out.println("driver server: " + driver.platform() + " on " + address.getHostString() + ":" + server.port());
        server.acceptor.join();
    }

    private static void usage(String problem) {
        System.err.println("DriverServer: " + problem + "\nusage: DriverServer --platform xen|qemu-lab "
                + "--listen HOST:PORT --token-file FILE [--lab-var DIR]");
        System.exit(2);
    }
}
