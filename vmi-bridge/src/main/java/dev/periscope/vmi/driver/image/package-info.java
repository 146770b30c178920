/**
 * Memory image files as a platform: raw RAM files (flat, or split around the hole below 4 GiB as a q35 or i440fx
 * guest's RAM file is), ELF cores ({@code dump-guest-memory}, {@code virsh dump --memory-only}) and QEMU mapped-ram
 * snapshot files, each read-only and laid out at the guest physical addresses it had ({@link
 * dev.periscope.vmi.driver.image.MemoryImage}, the library's entry point), served as VMs of platform "image" from
 * a directory of image files ({@link dev.periscope.vmi.driver.image.MemoryImageDriver} over an {@link
 * dev.periscope.vmi.driver.image.ImageDirectory}), and listed from the command line without a server ({@link
 * dev.periscope.vmi.driver.image.ImageCommand}: {@code ./periscope ps --image}). Image files are untrusted: every
 * count, size and offset is checked against the file before anything is mapped. Their mappings are read at random
 * (a page fault reads its page, not megabytes of read-ahead around it), searches and large copies with read-ahead.
 */
package dev.periscope.vmi.driver.image;
