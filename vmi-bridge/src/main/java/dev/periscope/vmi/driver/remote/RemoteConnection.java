package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.VmGoneException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * One client connection: handshake, then one request at a time (callers are serialised here). Any transport
 * failure closes it for good; the caller decides what that means (the platform is unreachable, or the domain
 * attached on this connection is gone).
 */
final class RemoteConnection implements AutoCloseable {

    /** Writes a request's operation and arguments. */
    interface Request {
        void write(DataOutputStream out) throws IOException;
    }

    /** Reads a successful response's payload. */
    interface Response<T> {
        T read(DataInputStream in) throws IOException;
    }

    static final int CONNECT_TIMEOUT_MS = 3_000;
    /** A server that accepts but does not answer the handshake within this (a hung dom0) is not there. */
    static final int HANDSHAKE_TIMEOUT_MS = 10_000;
    /** Listing answers within this, or the platform is unavailable (a fleet page must not hang on a hung dom0). */
    static final int LISTING_TIMEOUT_MS = 30_000;
    /** A domain's request not answered within this is a dead connection (a snapshot of a big guest is slowest). */
    static final int DOMAIN_TIMEOUT_MS = 120_000;

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final String platform;
    private boolean broken;

    /** @param readTimeoutMs how long a request may wait for its answer */
    RemoteConnection(RemoteEndpoint endpoint, int readTimeoutMs) throws IOException {
        socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(endpoint.host(), endpoint.port()), CONNECT_TIMEOUT_MS);
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            socket.setTcpNoDelay(true);
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
            byte[] token = endpoint.token().getBytes(StandardCharsets.UTF_8);
            out.writeInt(Wire.MAGIC);
            out.writeShort(token.length);
            out.write(token);
            out.flush();
            byte status = in.readByte();
            String text = in.readUTF();
            if (status != Wire.OK) {
                throw new IOException("the driver server refused the connection: " + text);
            }
            platform = text;
            socket.setSoTimeout(readTimeoutMs);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    /** The platform the server serves. */
    String platform() {
        return platform;
    }

    /**
     * Sends a request and reads its response. A failure the server reports becomes the matching Periscope
     * exception; a transport failure is an IOException and leaves this connection closed.
     */
    synchronized <T> T call(Request request, Response<T> response) throws IOException {
        if (broken) {
            throw new IOException("connection closed");
        }
        try {
            request.write(out);
            out.flush();
            byte status = in.readByte();
            if (status == Wire.OK) {
                return response.read(in);
            }
            String message = in.readUTF();
            long address = in.readLong();
            if (status == Wire.BAD_REQUEST) {
                broken = true; // the server hangs up after a request it could not parse
                socket.close();
            }
            throw Wire.exceptionOf(status, message, address);
        } catch (IOException e) {
            broken = true;
            socket.close();
            throw e;
        }
    }

    /**
     * {@link #call} for a domain or snapshot held on this connection, whose transport failing means that guest is
     * gone for the caller: {@link VmGoneException} naming {@code what}.
     */
    <T> T callFor(String what, Request request, Response<T> response) {
        try {
            return call(request, response);
        } catch (IOException e) {
            throw new VmGoneException("lost the driver server holding " + what + ": " + e.getMessage(), e);
        }
    }

    synchronized boolean broken() {
        return broken;
    }

    @Override
    public synchronized void close() {
        broken = true;
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing: nothing left to release
        }
    }
}
