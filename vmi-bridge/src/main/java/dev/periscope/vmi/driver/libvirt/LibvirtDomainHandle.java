package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.nativeapi.libvirt.Libvirt;
import dev.periscope.vmi.nativeapi.libvirt._virDomainInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Optional;

/**
 * One libvirt domain handle ({@code virDomainPtr}), owned with its own arena: closing it frees the handle. Every
 * call copies its results into Java values; a failure becomes an engine exception through {@link LibvirtError}
 * (a domain libvirt no longer knows, or that is no longer running, is gone). Thread-safe as libvirt's calls are;
 * closing must not race a call, which its owner ensures.
 */
final class LibvirtDomainHandle implements AutoCloseable {

    /** What {@code virDomainGetInfo} says. */
    record Info(LibvirtState state, long maxMemoryBytes, int vcpus) {
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final String name;

    LibvirtDomainHandle(MemorySegment domain) {
        this.handle = domain.reinterpret(arena, d -> Libvirt.virDomainFree(d));
        MemorySegment text = Libvirt.virDomainGetName(handle);
        if (text.equals(MemorySegment.NULL)) {
            close();
            throw LibvirtError.last().forPlatform("reading a domain's name");
        }
        this.name = text.reinterpret(Long.MAX_VALUE).getString(0);
    }

    String name() {
        return name;
    }

    String uuid() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment buffer = call.allocate(Libvirt.VIR_UUID_STRING_BUFLEN());
            check(Libvirt.virDomainGetUUIDString(handle, buffer), "reading its UUID");
            return buffer.getString(0);
        }
    }

    Info info() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment info = _virDomainInfo.allocate(call);
            check(Libvirt.virDomainGetInfo(handle, info), "reading its state");
            return new Info(LibvirtState.of(_virDomainInfo.state(info) & 0xff), _virDomainInfo.maxMem(info) * 1024,
                    _virDomainInfo.nrVirtCpu(info) & 0xffff);
        }
    }

    /** Whether the domain runs (or is paused): false also when libvirt forgot it meanwhile. */
    boolean active() {
        int active = Libvirt.virDomainIsActive(handle);
        if (active < 0) {
            Libvirt.virResetLastError();
        }
        return active == 1;
    }

    /** The metadata element in namespace {@code uri} as XML, if the domain's definition has one. */
    Optional<String> metadata(String uri) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment xml = Libvirt.virDomainGetMetadata(handle, Libvirt.VIR_DOMAIN_METADATA_ELEMENT(),
                    call.allocateFrom(uri), Libvirt.VIR_DOMAIN_AFFECT_CURRENT());
            if (xml.equals(MemorySegment.NULL)) {
                LibvirtError error = LibvirtError.last();
                if (error.noMetadata()) {
                    return Optional.empty();
                }
                throw error.forDomain("reading its metadata", name, this::active);
            }
            return Optional.of(taken(xml));
        }
    }

    void suspend() {
        check(Libvirt.virDomainSuspend(handle), "suspending it");
    }

    void resume() {
        check(Libvirt.virDomainResume(handle), "resuming it");
    }

    /**
     * Sends {@code command} to the domain's QEMU monitor through libvirt (QMP JSON, or HMP text when {@code hmp}),
     * with the file descriptors {@code files} passed along (SCM_RIGHTS), and returns QEMU's reply as text.
     */
    String monitor(String command, boolean hmp, int... files) {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment result = call.allocate(ValueLayout.ADDRESS);
            int flags = hmp ? Libvirt.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP() : 0;
            int status = files.length == 0
                    ? Libvirt.virDomainQemuMonitorCommand(handle, call.allocateFrom(command), result, flags)
                    : Libvirt.virDomainQemuMonitorCommandWithFiles(handle, call.allocateFrom(command), files.length,
                            call.allocateFrom(ValueLayout.JAVA_INT, files), MemorySegment.NULL, MemorySegment.NULL,
                            result, flags);
            check(status, "sending a monitor command");
            return taken(result.get(ValueLayout.ADDRESS, 0));
        }
    }

    /**
     * Creates {@code file} (mode 0600, truncated) and sends {@code command} to the QMP monitor with its descriptor,
     * which is write-only: the access mode QEMU's fd sets require to hand it out for a "file:/dev/fdset/N" URI.
     * Closes this process's descriptor afterwards; QEMU keeps its own.
     */
    String monitorWithNewFile(String command, Path file) {
        int fd;
        try (Arena call = Arena.ofConfined()) {
            fd = Libvirt.creat(call.allocateFrom(file.toString()), 0600);
        }
        if (fd < 0) {
            throw new PlatformUnavailableException("cannot create " + file + " for a snapshot of " + name);
        }
        try {
            return monitor(command, false, fd);
        } finally {
            Libvirt.close(fd);
        }
    }

    /** Copies a string libvirt handed over, then frees it. */
    private static String taken(MemorySegment text) {
        try {
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } finally {
            Libvirt.free(text);
        }
    }

    private void check(int status, String what) {
        if (status < 0) {
            throw LibvirtError.last().forDomain(what, name, this::active);
        }
    }

    @Override
    public void close() {
        try {
            arena.close();
        } catch (IllegalStateException alreadyClosed) {
            // closing twice is harmless
        }
    }

    @Override
    public String toString() {
        return "LibvirtDomainHandle[" + name + "]";
    }
}
