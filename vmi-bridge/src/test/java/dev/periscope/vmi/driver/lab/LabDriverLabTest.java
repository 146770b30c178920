package dev.periscope.vmi.driver.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.paging.X86AddressSpace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/** The lab driver against a real guest booted with lab/lab.sh (skipped with -Dperiscope.lab.skip=true). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LabDriverLabTest {

    private static final String NAME = "lxcore-driver";
    private static final String TENANT = "lxcore-tenant";
    private static final byte[] BANNER = "Linux version ".getBytes(StandardCharsets.US_ASCII);

    private LabVm vm;
    private LabDriver driver;
    private Domain domain;

    @BeforeAll
    void boot() {
        LabVm.assumeLabEnabled();
        vm = LabVm.start(NAME, "--workload", "busy", "--tenant", TENANT, "--memory", "512");
        driver = new LabDriver(LabVm.varDir());
        domain = driver.open(NAME);
    }

    @AfterAll
    void shutdown() {
        if (domain != null) {
            domain.close();
        }
        if (vm != null) {
            vm.close();
        }
    }

    @Test
    @Order(1)
    void listsTheGuestWithItsTenantAndMemory() {
        DomainInfo info = driver.domain(NAME).orElseThrow();
        assertThat(info.tenant()).isEqualTo(TENANT);
        assertThat(info.memoryBytes()).isEqualTo(512L << 20);
        assertThat(info.running()).isTrue();
        assertThat(info.platform()).isEqualTo("qemu-lab");
        assertThat(info.workload()).isEqualTo("busy");
        assertThat(driver.domains()).extracting(DomainInfo::name).contains(NAME);
        assertThat(domain.capabilities()).contains(Capability.READ_MEMORY, Capability.COW_SNAPSHOT);
    }

    @Test
    @Order(2)
    void liveMemoryHoldsTheKernelBanner() {
        assertThat(domain.memory().size()).isEqualTo(512L << 20);
        assertThat(domain.memory().indexOf(BANNER, 0, domain.memory().size())).isPositive();
    }

    @Test
    @Order(3)
    void registersPointIntoRam() {
        assertThat(domain.vcpuCount()).isEqualTo(1);
        VcpuRegisters registers = domain.registers(0);
        assertThat(registers.cr3() & ~0xfffL).isPositive().isLessThan(domain.memory().size());
        assertThat(registers.fiveLevelPaging()).isFalse();
        assertThat(registers.efer() & (1L << 10)).as("EFER.LMA").isNotZero();
    }

    /** The page walker on a real guest: paused, the instruction pointer must translate through CR3. */
    @Test
    @Order(3)
    void theInstructionPointerTranslatesThroughCr3() {
        domain.pause();
        try {
            VcpuRegisters registers = domain.registers(0);
            var space = new X86AddressSpace(domain.memory(), registers.cr3(), registers.fiveLevelPaging());
            assertThat(space.isMapped(registers.rip())).isTrue();
            byte[] code = new byte[16];
            space.read(registers.rip(), code, 0, code.length);
            assertThat(code).isNotEqualTo(new byte[16]);
        } finally {
            domain.resume();
        }
    }

    @Test
    @Order(4)
    void pausesAndResumes() {
        domain.pause();
        domain.resume();
        assertThat(domain.lastPauseDuration()).isPositive().isLessThan(Duration.ofSeconds(2));
        System.out.printf("pause/resume: guest stopped for at most %.2f ms%n",
                domain.lastPauseDuration().toNanos() / 1e6);
        assertThat(vm.exec("true").exitCode()).isZero();
    }

    @Test
    @Order(5)
    void snapshotMatchesLiveMemoryAndTheGuestKeepsRunning() {
        long live = domain.memory().indexOf(BANNER, 0, domain.memory().size());
        try (MemorySnapshot snapshot = domain.snapshot()) {
            assertThat(snapshot.memory().size()).isEqualTo(512L << 20);
            assertThat(snapshot.memory().indexOf(BANNER, 0, snapshot.memory().size())).isEqualTo(live);
            byte[] fromSnapshot = new byte[64];
            byte[] fromLive = new byte[64];
            snapshot.memory().read(live, fromSnapshot, 0, 64);
            domain.memory().read(live, fromLive, 0, 64);
            assertThat(fromSnapshot).isEqualTo(fromLive);
            assertThat(snapshot.guestDowntime()).isPositive();
            assertThat(snapshot.registers(0).cr3()).isPositive();
            System.out.printf("snapshot of 512 MiB: downtime %d ms, total %d ms%n",
                    snapshot.guestDowntime().toMillis(), snapshot.totalTime().toMillis());
            assertThat(snapshotFiles()).hasSize(1);
        }
        assertThat(snapshotFiles()).as("deleted on close").isEmpty();
        assertThat(vm.exec("echo", "alive")).satisfies(r -> assertThat(r.output()).contains("alive"));
        // A second snapshot works too: QEMU's migration state is reusable.
        try (MemorySnapshot again = domain.snapshot()) {
            assertThat(again.memory().indexOf(BANNER, 0, again.memory().size())).isEqualTo(live);
        }
    }

    private static List<Path> snapshotFiles() {
        try (var files = Files.list(LabVm.varDir().resolve("lab").resolve(NAME))) {
            return files.filter(f -> f.getFileName().toString().matches("snap-\\d+\\.ram")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    @Order(6)
    void aStoppedGuestIsGone() {
        vm.stop();
        assertThat(driver.domain(NAME)).map(DomainInfo::running).isNotEqualTo(Optional.of(true));
        assertThatThrownBy(() -> domain.registers(0))
                .isInstanceOf(VmGoneException.class);
        assertThatThrownBy(() -> driver.open(NAME))
                .isInstanceOf(VmGoneException.class);
    }
}
