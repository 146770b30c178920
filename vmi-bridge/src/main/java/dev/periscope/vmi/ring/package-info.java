/**
 * The event ring: the shared-memory channel from a hypervisor extension (the QEMU TCG plugin in the lab,
 * the Xen shim in production) to Java, and the control channel back (mode, DTB filter set, breakpoint
 * table, answers to synchronous records).
 *
 * <p>This is the only package that may import the jextract-generated {@code dev.periscope.vmi.nativeapi.ring}
 * (the ABI of {@code vmi-bridge/native/include/periscope_ring.h}); no {@code MemorySegment} leaves it.
 * {@link dev.periscope.vmi.ring.EventRing} owns the mapping and its arena; records are handed out either
 * as a reusable flyweight ({@link dev.periscope.vmi.ring.RingRecord}, valid only inside the handler call,
 * allocation-free) or copied into immutable {@link dev.periscope.vmi.ring.RingEvent}s.
 *
 * <p>Records: CR3 writes, syscall entries, other breakpoint hits, drop markers, and (from extensions that advertise
 * it, {@link dev.periscope.vmi.ring.EventChannel#syscallExits()}) syscall returns, paired with their entries by a thread
 * key in {@link dev.periscope.vmi.ring.RingRecord#aux()}.
 *
 * <p>Who creates the ring: Java ({@link dev.periscope.vmi.ring.EventRing#create}) creates and initialises
 * {@code /dev/shm/NAME.ring} before QEMU starts and passes it with the capability token to the plugin
 * ({@link dev.periscope.vmi.ring.EventRing#pluginArgs()}). The plugin only maps and validates it.
 */
package dev.periscope.vmi.ring;
