package dev.periscope.vmi.driver.libvirt;

import dev.periscope.vmi.driver.DomainInfo;
import java.time.Instant;

/**
 * One libvirt domain as the driver lists it, copied out of libvirt.
 *
 * @param name        the domain's name
 * @param uuid        its UUID
 * @param state       its state
 * @param memoryBytes its memory size (libvirt's maximum, which a balloon does not lower)
 * @param vcpus       its virtual CPUs
 * @param tenant      the owner from its Periscope metadata, empty when it has none (an operator assigns one)
 * @param startedAt   when its QEMU process started on this host, null when it runs none here
 */
public record LibvirtGuest(String name, String uuid, LibvirtState state, long memoryBytes, int vcpus, String tenant,
                           Instant startedAt) {

    /** Whether libvirt runs it (paused counts: its memory is there to read). */
    public boolean running() {
        return switch (state) {
            case RUNNING, BLOCKED, PAUSED, SHUTTING_DOWN, SUSPENDED_TO_MEMORY -> true;
            case NO_STATE, SHUT_OFF, CRASHED -> false;
        };
    }

    DomainInfo info() {
        return new DomainInfo(name, tenant, LibvirtDriver.PLATFORM, running(), memoryBytes, "", "", startedAt);
    }
}
