package dev.periscope.vmi.driver;

/** What a platform can do for one guest. A driver reports only what it really supports. */
public enum Capability {
    READ_MEMORY,
    VCPU_REGISTERS,
    PAUSE_RESUME,
    COW_SNAPSHOT,
    CR3_EVENTS,
    HYPERVISOR_CR3_FILTER,
    HYPERVISOR_BREAKPOINTS,
    SYNCHRONOUS_EVENTS
}
