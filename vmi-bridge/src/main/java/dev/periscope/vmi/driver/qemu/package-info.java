/**
 * What every QEMU guest shares, whoever started it (the lab, libvirt): a monitor interface over whichever channel
 * reaches QEMU ({@link dev.periscope.vmi.driver.qemu.QemuMonitor}), the guest RAM layout QEMU reports
 * ({@link dev.periscope.vmi.driver.qemu.QemuRamLayout}), live RAM read from a running QEMU's shared file or its
 * process memory ({@link dev.periscope.vmi.driver.qemu.QemuRam}), register dumps, and copy-on-write snapshots
 * through QEMU's background snapshot to a mapped-ram file ({@link dev.periscope.vmi.driver.qemu.QemuSnapshot}).
 */
package dev.periscope.vmi.driver.qemu;
