/**
 * The lab platform: QEMU/TCG guests started by lab/lab.sh, their RAM files mapped live, QMP for registers,
 * pause/resume and copy-on-write snapshots through QEMU's background snapshot in mapped-ram format.
 */
package dev.periscope.vmi.driver.lab;
