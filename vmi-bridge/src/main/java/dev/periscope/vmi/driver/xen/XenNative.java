package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.PlatformUnavailableException;

import java.nio.file.Files;
import java.nio.file.Path;

/** Loads libperiscope-xen (or the test double) once per JVM, before the generated bindings are used. */
final class XenNative {
    /** System property naming the library file; tests set it to libperiscope-xen-fake.so. */
    static final String LIBRARY_PROPERTY = "periscope.xen.library";
    private static final Path DEV_XEN = Path.of("/dev/xen");
    private static Path loaded;

    private XenNative() {
    }

    /** Loads the library named by the property, or the real one; returns true for an explicitly named library. */
    static synchronized boolean load() {
        String named = System.getProperty(LIBRARY_PROPERTY);
        Path want = named == null || named.isBlank() ? null : Path.of(named).toAbsolutePath();
        if (loaded != null) {
            if (want != null && !want.equals(loaded)) {
                throw new IllegalStateException("libperiscope-xen already loaded from " + loaded + ", not " + want);
            }
            return want != null;
        }
        if (want == null && !Files.exists(DEV_XEN)) {
            throw new PlatformUnavailableException("Xen is not available: /dev/xen is absent, this host is not a Xen dom0.");
        }
        try {
            if (want != null) {
                System.load(want.toString());
                loaded = want;
            } else {
                System.loadLibrary("periscope-xen");
                loaded = Path.of("libperiscope-xen.so");
            }
        } catch (UnsatisfiedLinkError | SecurityException e) {
            throw new PlatformUnavailableException("Xen is available but libperiscope-xen could not be loaded ("
                    + (want != null ? want : "java.library.path") + "): " + e.getMessage(), e);
        }
        return want != null;
    }
}
