/**
 * The Xen driver: {@link dev.periscope.vmi.driver.xen.XenDriver} over libperiscope-xen, Periscope's C shim
 * over Xen's toolstack libraries (vmi-bridge/native/xen), called through the jextract-generated bindings in
 * {@code dev.periscope.vmi.nativeapi.xen}. This is the only package that may use those bindings: every native
 * handle lives in one AutoCloseable owner with its own Arena, native status codes become the
 * {@link dev.periscope.vmi.VmiException} family in one place ({@code XenStatus}), and guest bytes are copied
 * out before they are returned, so no {@code MemorySegment} leaves the package. A domain's tenant is the one its
 * FLASK label names ({@code <tenant>_domU_t}, the type Periscope's policy module gives a tenant's guests).
 *
 * <p>Which library is loaded: the one named by {@code -Dperiscope.xen.library=/path/to/lib.so} (tests name the
 * fake, {@code libperiscope-xen-fake.so}, whose configuration file is then the driver's {@code options}),
 * otherwise {@code libperiscope-xen.so} from {@code java.library.path}. Without {@code /dev/xen} the driver
 * reports {@link dev.periscope.vmi.PlatformUnavailableException} with one sentence.
 */
package dev.periscope.vmi.driver.xen;
