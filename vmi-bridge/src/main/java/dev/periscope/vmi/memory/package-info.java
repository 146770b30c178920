/**
 * Guest physical memory: RAM files mapped read-only through FFM, and byte-array images for tests. The only
 * package that touches {@code MemorySegment}; every FFM failure is translated here into the engine's exceptions.
 */
package dev.periscope.vmi.memory;
