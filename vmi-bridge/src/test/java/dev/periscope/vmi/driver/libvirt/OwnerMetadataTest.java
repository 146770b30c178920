package dev.periscope.vmi.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class OwnerMetadataTest {

    @Test
    void readsTheTenantAsLibvirtReturnsTheElement() {
        // virDomainGetMetadata(..., "https://periscope.dev/libvirt/1", ...) answers without the namespace
        assertThat(OwnerMetadata.tenant("<owner tenant=\"acme\"/>")).contains("acme");
        assertThat(OwnerMetadata.tenant("<p:owner xmlns:p=\"https://periscope.dev/libvirt/1\" tenant=\"globex\"/>"))
                .contains("globex");
    }

    @Test
    void anythingElseNamesNoTenant() {
        assertThat(OwnerMetadata.tenant("<owner/>")).isEmpty();
        assertThat(OwnerMetadata.tenant("<owner tenant=\"../etc\"/>")).isEmpty();
        assertThat(OwnerMetadata.tenant("<o:owner xmlns:o=\"urn:other\" tenant=\"acme\"/>")).isEmpty();
        assertThat(OwnerMetadata.tenant("<tenant>acme</tenant>")).isEmpty();
        assertThat(OwnerMetadata.tenant("<owner tenant=")).isEmpty();
        assertThat(OwnerMetadata.tenant("<!DOCTYPE owner [<!ENTITY x SYSTEM \"file:///etc/hostname\">]>"
                + "<owner tenant=\"&x;\"/>")).as("no DTDs, no external entities").isEmpty();
    }

    @Test
    void configurationIsValidated() {
        assertThat(LibvirtConfig.system().uri()).isEqualTo("qemu:///system");
        assertThatThrownBy(() -> new LibvirtConfig(" ", Path.of("/run"), Path.of("/dev/shm")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new LibvirtConfig("qemu:///system", Path.of("run"), Path.of("/dev/shm")))
                .hasMessageContaining("absolute");
    }
}
