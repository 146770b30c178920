package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.nativeapi.libvirt.Libvirt;
import dev.periscope.vmi.nativeapi.libvirt.virErrorFunc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;

/**
 * Makes the generated bindings safe to touch, once per JVM: their class loads libvirt.so.0 and libvirt-qemu.so.0
 * by name and would fail with an initializer error on a host without libvirt, so the two libraries are looked up
 * here first and their absence is one sentence; then libvirt's default error handler, which prints every
 * failure to stderr, is replaced by one that does nothing (failures are read with virGetLastError instead).
 */
final class LibvirtNative {

    static final String CLIENT_LIBRARY = "libvirt.so.0";
    static final String QEMU_LIBRARY = "libvirt-qemu.so.0";
    private static boolean loaded;

    private LibvirtNative() {
    }

    /** @throws PlatformUnavailableException the libvirt client libraries are not installed */
    static synchronized void load() {
        if (loaded) {
            return;
        }
        for (String library : new String[] {CLIENT_LIBRARY, QEMU_LIBRARY}) {
            try {
                SymbolLookup.libraryLookup(library, Arena.global());
            } catch (IllegalArgumentException e) {
                throw new PlatformUnavailableException("libvirt is not available: " + library + " is not installed "
                        + "(Debian: apt-get install libvirt0)", e);
            }
        }
        MemorySegment quiet = virErrorFunc.allocate((userData, error) -> { }, Arena.global());
        Libvirt.virSetErrorFunc(MemorySegment.NULL, quiet);
        loaded = true;
    }
}
