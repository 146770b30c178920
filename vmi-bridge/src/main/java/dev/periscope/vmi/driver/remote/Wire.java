package dev.periscope.vmi.driver.remote;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.VcpuRegisters;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;

/** The protocol's constants and the encodings both ends share. */
final class Wire {

    static final int MAGIC = 0x50524d31; // "PRM1"
    static final int PAGE = 4096;
    /** Pages one READ_PAGES request may ask for. */
    static final int MAX_PAGES = 16;
    static final int MAX_NEEDLE = 4096;
    static final int MAX_TOKEN = 256;

    static final byte DOMAINS = 1;
    static final byte DOMAIN = 2;
    static final byte CAPABILITIES = 3;
    static final byte OPEN = 4;
    static final byte READ_PAGES = 5;
    static final byte INDEX_OF = 6;
    static final byte REGISTERS = 7;
    static final byte PAUSE = 8;
    static final byte RESUME = 9;
    static final byte SNAPSHOT = 10;
    static final byte CLOSE_SNAPSHOT = 11;
    static final byte PAGE_TABLE_FRAME = 12;

    static final byte OK = 0;
    static final byte VM_GONE = 1;
    static final byte PAGE_NOT_PRESENT = 2;
    static final byte PLATFORM_UNAVAILABLE = 3;
    static final byte GUEST_DATA = 4;
    static final byte BAD_REQUEST = 5;
    static final byte FAILED = 6;
    static final byte REFUSED = 7;

    /** The live memory of the connection's domain; snapshots get numbers from 1. */
    static final int LIVE = 0;

    private Wire() {
    }

    /** A request the server cannot serve as asked (unknown operation, bad arguments, no domain attached). */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message);
        }
    }

    static byte statusOf(RuntimeException e) {
        return switch (e) {
            case VmGoneException x -> VM_GONE;
            case PageNotPresentException x -> PAGE_NOT_PRESENT;
            case PlatformUnavailableException x -> PLATFORM_UNAVAILABLE;
            case GuestDataException x -> GUEST_DATA;
            case BadRequest x -> BAD_REQUEST;
            default -> FAILED;
        };
    }

    /** The exception a status stands for on the client, with the server's message. */
    static RuntimeException exceptionOf(byte status, String message, long address) {
        return switch (status) {
            case VM_GONE -> new VmGoneException(message);
            case PAGE_NOT_PRESENT -> new PageNotPresentException(message, address);
            case PLATFORM_UNAVAILABLE, REFUSED -> new PlatformUnavailableException(message);
            case GUEST_DATA -> new GuestDataException(message);
            case BAD_REQUEST -> new IllegalArgumentException(message);
            default -> new IllegalStateException(message);
        };
    }

    static String messageOf(RuntimeException e) {
        String m = e instanceof VmiException || e instanceof BadRequest ? e.getMessage()
                : e.getClass().getSimpleName() + ": " + e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.length() > 2000 ? m.substring(0, 2000) : m;
    }

    static void writeInfo(DataOutputStream out, DomainInfo d) throws IOException {
        out.writeUTF(d.name());
        out.writeUTF(d.tenant());
        out.writeUTF(d.platform());
        out.writeBoolean(d.running());
        out.writeLong(d.memoryBytes());
        out.writeUTF(d.kernelVersion());
        out.writeUTF(d.workload());
        out.writeBoolean(d.startedAt() != null);
        if (d.startedAt() != null) {
            writeInstant(out, d.startedAt());
        }
    }

    static DomainInfo readInfo(DataInputStream in) throws IOException {
        String name = in.readUTF();
        String tenant = in.readUTF();
        String platform = in.readUTF();
        boolean running = in.readBoolean();
        long memory = in.readLong();
        String kernel = in.readUTF();
        String workload = in.readUTF();
        Instant started = in.readBoolean() ? readInstant(in) : null;
        return new DomainInfo(name, tenant, platform, running, memory, kernel, workload, started);
    }

    static void writeInstant(DataOutputStream out, Instant t) throws IOException {
        out.writeLong(t.getEpochSecond());
        out.writeInt(t.getNano());
    }

    static Instant readInstant(DataInputStream in) throws IOException {
        return Instant.ofEpochSecond(in.readLong(), in.readInt());
    }

    /** By name, so that either end may know capabilities the other does not (unknown ones are dropped). */
    static void writeCapabilities(DataOutputStream out, Set<Capability> caps) throws IOException {
        out.writeInt(caps.size());
        for (Capability c : caps) {
            out.writeUTF(c.name());
        }
    }

    static Set<Capability> readCapabilities(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 64) {
            throw new IOException("malformed capability list (" + n + " entries)");
        }
        Set<Capability> caps = EnumSet.noneOf(Capability.class);
        for (int i = 0; i < n; i++) {
            String name = in.readUTF();
            for (Capability c : Capability.values()) {
                if (c.name().equals(name)) {
                    caps.add(c);
                }
            }
        }
        return caps;
    }

    static void writeRegisters(DataOutputStream out, VcpuRegisters r) throws IOException {
        out.writeInt(r.vcpu());
        out.writeLong(r.cr3());
        out.writeLong(r.cr4());
        out.writeLong(r.efer());
        out.writeLong(r.rip());
        out.writeLong(r.gsBase());
        out.writeLong(r.kernelGsBase());
    }

    static VcpuRegisters readRegisters(DataInputStream in) throws IOException {
        return new VcpuRegisters(in.readInt(), in.readLong(), in.readLong(), in.readLong(), in.readLong(),
                in.readLong(), in.readLong());
    }
}
