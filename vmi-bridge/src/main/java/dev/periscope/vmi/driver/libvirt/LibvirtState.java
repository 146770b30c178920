package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.nativeapi.libvirt.Libvirt;

/** A domain's state as libvirt reports it ({@code virDomainState}). */
public enum LibvirtState {
    NO_STATE, RUNNING, BLOCKED, PAUSED, SHUTTING_DOWN, SHUT_OFF, CRASHED, SUSPENDED_TO_MEMORY;

    static LibvirtState of(int state) {
        if (state == Libvirt.VIR_DOMAIN_RUNNING()) {
            return RUNNING;
        } else if (state == Libvirt.VIR_DOMAIN_BLOCKED()) {
            return BLOCKED;
        } else if (state == Libvirt.VIR_DOMAIN_PAUSED()) {
            return PAUSED;
        } else if (state == Libvirt.VIR_DOMAIN_SHUTDOWN()) {
            return SHUTTING_DOWN;
        } else if (state == Libvirt.VIR_DOMAIN_SHUTOFF()) {
            return SHUT_OFF;
        } else if (state == Libvirt.VIR_DOMAIN_CRASHED()) {
            return CRASHED;
        } else if (state == Libvirt.VIR_DOMAIN_PMSUSPENDED()) {
            return SUSPENDED_TO_MEMORY;
        }
        return NO_STATE;
    }
}
