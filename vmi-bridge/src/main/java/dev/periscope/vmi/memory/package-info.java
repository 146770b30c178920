/**
 * Guest physical memory: RAM files mapped read-only through FFM, a VMM process's memory read at its host
 * addresses, byte-array images for tests, and the guest-physical layout ({@link dev.periscope.vmi.memory.RamLayout})
 * that assembles RAM blocks into one address space with its holes. The only package that touches
 * {@code MemorySegment} for guest memory, and the one wrapper of libc's {@code madvise} (the jextract bindings in
 * {@code dev.periscope.vmi.nativeapi.mman}: how a mapped image file is read); every FFM and I/O failure is translated
 * here into the engine's exceptions.
 */
package dev.periscope.vmi.memory;
