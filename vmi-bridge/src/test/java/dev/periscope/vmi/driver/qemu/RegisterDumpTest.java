package dev.periscope.vmi.driver.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import org.junit.jupiter.api.Test;

class RegisterDumpTest {

    // Trimmed from QEMU 10.0.2 "info registers -a" with two vCPUs.
    static final String DUMP = """

            CPU#0
            RAX=000000000001ad40 RBX=0000000000000000 RCX=0000000000000000 RDX=4000000000000000
            RIP=ffffffff852592eb RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1
            ES =0000 0000000000000000 00000000 00000000
            FS =0000 0000000000000000 00000000 00000000
            GS =0000 ffff8e255f400000 00000000 00000000
            CR0=80050033 CR2=0000000000430290 CR3=00000000026d4000 CR4=000006f0
            EFER=0000000000000d01

            CPU#1
            RIP=00007f0000001000 RFL=00000246 [---Z-P-] CPL=3 II=0 A20=1 SMM=0 HLT=0
            GS =0000 00007f1234560000 00000000 00000000
            CR0=80050033 CR2=0000000000000000 CR3=8000000001234805 CR4=000016f0
            EFER=0000000000000d01
            """;

    @Test
    void parsesTheRequestedVcpu() {
        var cpu0 = RegisterDump.parse(DUMP, 0);
        assertThat(cpu0.cr3()).isEqualTo(0x26d4000L);
        assertThat(cpu0.cr4()).isEqualTo(0x6f0L);
        assertThat(cpu0.efer()).isEqualTo(0xd01L);
        assertThat(cpu0.rip()).isEqualTo(0xffff_ffff_8525_92ebL);
        assertThat(cpu0.gsBase()).isEqualTo(0xffff_8e25_5f40_0000L);
        assertThat(cpu0.fiveLevelPaging()).isFalse();
        var cpu1 = RegisterDump.parse(DUMP, 1);
        assertThat(cpu1.cr3()).isEqualTo(0x8000_0000_0123_4805L);
        assertThat(cpu1.fiveLevelPaging()).isTrue();
        assertThat(cpu1.vcpu()).isEqualTo(1);
    }

    @Test
    void aMissingVcpuIsReported() {
        assertThatThrownBy(() -> RegisterDump.parse(DUMP, 2)).isInstanceOf(PlatformUnavailableException.class);
        assertThatThrownBy(() -> RegisterDump.parse("CPU#0\nRAX=0\n", 0))
                .isInstanceOf(PlatformUnavailableException.class);
    }
}
