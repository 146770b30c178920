package dev.periscope.process;

import static org.assertj.core.api.Assertions.assertThat;

import dev.periscope.vm.VmState;
import dev.periscope.vm.VmView;
import dev.periscope.vmi.driver.Capability;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class VmPageTest {

    @Test
    void aVmPageOpensWithTheMostConsistentModeItsPlatformOffers() {
        assertThat(VmPage.bestMode(vm("qemu-lab", EnumSet.allOf(Capability.class)))).isEqualTo("snapshot");
        // a Xen domain whose agent's FLASK label has no snapshot sub-op
        assertThat(VmPage.bestMode(vm("xen", EnumSet.of(Capability.READ_MEMORY, Capability.VCPU_REGISTERS,
                Capability.PAUSE_RESUME)))).isEqualTo("pause");
        assertThat(VmPage.bestMode(vm("xen", EnumSet.of(Capability.READ_MEMORY)))).isEqualTo("live");
    }

    private static VmView vm(String platform, Set<Capability> capabilities) {
        return new VmView("v@h", "v", "h", "acme", platform, VmState.RUNNING, true, 256, "", "", null, capabilities);
    }
}
