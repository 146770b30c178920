/**
 * The lab platform: QEMU/TCG guests started by lab/lab.sh, their RAM files mapped live and laid out as QEMU
 * reports it, QMP for registers, pause/resume and copy-on-write snapshots (through the shared QEMU code in
 * {@code driver.qemu}).
 */
package dev.periscope.vmi.driver.lab;
