package dev.periscope.vm;

import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Import;

/** The fleet with its ownership table and kernel profiles, for slices of other features. */
@TestConfiguration(proxyBeanMethods = false)
@Import({Fleet.class, VmOwnership.class, KernelProfiles.class})
public class FleetSliceConfiguration {
}
