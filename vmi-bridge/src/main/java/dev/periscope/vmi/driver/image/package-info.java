/**
 * Memory image files as a platform: raw RAM files (flat, or split around the hole below 4 GiB as a q35 or i440fx
 * guest's RAM file is), ELF cores ({@code dump-guest-memory}, {@code virsh dump --memory-only}) and QEMU mapped-ram
 * snapshot files, each read-only and laid out at the guest physical addresses it had ({@link
 * dev.periscope.vmi.driver.image.MemoryImage}, the library's entry point), served as VMs of platform "image" from
 * a directory of image files ({@link dev.periscope.vmi.driver.image.MemoryImageDriver} over an {@link
 * dev.periscope.vmi.driver.image.ImageDirectory}). Image files are untrusted: every count, size and offset is
 * checked against the file before anything is mapped.
 */
package dev.periscope.vmi.driver.image;
