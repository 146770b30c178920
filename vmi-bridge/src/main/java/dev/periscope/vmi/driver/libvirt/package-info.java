/**
 * The libvirt platform: the QEMU/KVM domains a libvirt on this host runs, introspected with no change to their
 * definitions ({@link dev.periscope.vmi.driver.libvirt.LibvirtDriver}). libvirt's C API is called through the
 * jextract-generated bindings in {@code dev.periscope.vmi.nativeapi.libvirt}, which only this package uses: the
 * connection and each domain handle are AutoCloseable owners with their own Arena, every failed call becomes the
 * engine's exceptions in one place ({@code LibvirtError}: a domain libvirt no longer knows or that stopped is
 * {@link dev.periscope.vmi.VmGoneException}, anything else
 * {@link dev.periscope.vmi.PlatformUnavailableException}), and results are copied into Java values and records.
 * QEMU is reached only through libvirt's monitor passthrough; guest RAM is read with the shared QEMU code in
 * {@code driver.qemu}.
 */
package dev.periscope.vmi.driver.libvirt;
