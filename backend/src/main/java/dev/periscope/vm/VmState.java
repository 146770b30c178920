package dev.periscope.vm;

/** Where a VM is, as far as the control plane can tell. */
public enum VmState {
    RUNNING,
    STOPPED,
    /** Its host's agent cannot be reached: the VM may well run, but nothing can be read from it. */
    UNREACHABLE
}
