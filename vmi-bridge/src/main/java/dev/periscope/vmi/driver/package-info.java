/**
 * The hypervisor SPI: a driver per platform lists guests and opens them as {@link dev.periscope.vmi.driver.Domain}s
 * that say what they can do ({@link dev.periscope.vmi.driver.Capability}).
 */
package dev.periscope.vmi.driver;
