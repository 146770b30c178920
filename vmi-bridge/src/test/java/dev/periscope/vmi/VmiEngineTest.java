package dev.periscope.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.DomainInfo;
import dev.periscope.vmi.driver.HypervisorDriver;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.driver.VcpuRegisters;
import dev.periscope.vmi.memory.ByteArrayPhysicalMemory;
import dev.periscope.vmi.memory.PhysicalMemory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class VmiEngineTest {

    /** A driver with one VM whose boot time the test changes to simulate a restart. */
    static final class FakeDriver implements HypervisorDriver {
        Instant startedAt = Instant.parse("2026-01-01T00:00:00Z");
        boolean running = true;
        final List<FakeDomain> opened = new ArrayList<>();

        @Override public String platform() { return "fake"; }
        @Override public List<DomainInfo> domains() { return domain("vm1").stream().toList(); }
        @Override public Optional<DomainInfo> domain(String name) {
            return name.equals("vm1")
                    ? Optional.of(new DomainInfo("vm1", "t", "fake", running, 1 << 20, "", "", startedAt))
                    : Optional.empty();
        }
        @Override public Set<Capability> capabilities(String name) {
            return domain(name).filter(DomainInfo::running).map(d -> Set.of(Capability.READ_MEMORY)).orElse(Set.of());
        }
        @Override public Domain open(String name) {
            if (!running) {
                throw new VmGoneException(name + " not running");
            }
            FakeDomain d = new FakeDomain(domain(name).orElseThrow());
            opened.add(d);
            return d;
        }
        @Override public void close() { }
    }

    static final class FakeDomain implements Domain {
        final DomainInfo info;
        boolean closed;
        boolean alive = true;
        /** Whether it holds an event channel (as a Xen domain holds its one vm_event ring), and how often it let go. */
        boolean channelOpen = true;
        int channelReleases;

        FakeDomain(DomainInfo info) { this.info = info; }
        @Override public boolean releaseEventChannel() {
            boolean was = channelOpen;
            channelOpen = false;
            channelReleases++;
            return was;
        }
        @Override public DomainInfo info() { return info; }
        @Override public Set<Capability> capabilities() { return Set.of(Capability.READ_MEMORY); }
        @Override public PhysicalMemory memory() { return ByteArrayPhysicalMemory.ofSize(1 << 20); }
        @Override public VcpuRegisters registers(int vcpu) { throw new PlatformUnavailableException("no"); }
        @Override public int vcpuCount() { return 1; }
        @Override public void pause() { throw new PlatformUnavailableException("no"); }
        @Override public void resume() { throw new PlatformUnavailableException("no"); }
        @Override public MemorySnapshot snapshot() { throw new PlatformUnavailableException("no"); }
        @Override public boolean alive() { return alive; }
        @Override public void close() { closed = true; }
    }

    @Test
    void kernelCodeReadsAtMostOneInstructionWindow() {
        try (VmiEngine engine = new VmiEngine(new FakeDriver())) {
            assertThatThrownBy(() -> engine.kernelCode("vm1", "entry_SYSCALL_64", 0))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> engine.kernelCode("vm1", "entry_SYSCALL_64", 65))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void snapshotWithoutTheCapabilityFailsInsteadOfFallingBack() {
        try (VmiEngine engine = new VmiEngine(new FakeDriver())) {
            assertThatThrownBy(() -> engine.processes("vm1", AcquisitionMode.SNAPSHOT))
                    .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("snapshot");
            assertThatThrownBy(() -> engine.processes("vm1", AcquisitionMode.PAUSE))
                    .isInstanceOf(PlatformUnavailableException.class);
        }
    }

    @Test
    void capabilitiesComeFromTheDriverWithoutAttaching() {
        FakeDriver driver = new FakeDriver();
        try (VmiEngine engine = new VmiEngine(driver)) {
            assertThat(engine.capabilities("vm1")).containsExactly(Capability.READ_MEMORY);
            assertThat(engine.capabilities("nope")).isEmpty();
            assertThat(driver.opened).isEmpty();
        }
    }

    @Test
    void reattachesWhenTheVmRestartedAndReportsGoneVms() {
        FakeDriver driver = new FakeDriver();
        try (VmiEngine engine = new VmiEngine(driver)) {
            // The fake's memory holds no kernel: each read attaches, then fails on the guest data.
            readProcesses(engine);
            readProcesses(engine);
            assertThat(driver.opened).hasSize(1);
            driver.startedAt = driver.startedAt.plusSeconds(60);
            readProcesses(engine);
            assertThat(driver.opened).hasSize(2);
            assertThat(driver.opened.getFirst().closed).isTrue();
            driver.running = false;
            assertThatThrownBy(() -> engine.processes("vm1", AcquisitionMode.LIVE)).isInstanceOf(VmGoneException.class);
            assertThatThrownBy(() -> engine.processes("nope", AcquisitionMode.LIVE)).isInstanceOf(VmGoneException.class);
        }
    }

    @Test
    void releasesVmsThatStoppedWithoutWaitingForACallForThem() {
        FakeDriver driver = new FakeDriver();
        try (VmiEngine engine = new VmiEngine(driver)) {
            readProcesses(engine);
            assertThat(engine.releaseStopped()).as("a running VM is kept").isEmpty();
            driver.running = false;
            assertThat(engine.releaseStopped()).containsExactly("vm1");
            assertThat(driver.opened.getFirst().closed).isTrue();
            assertThat(engine.releaseStopped()).isEmpty();

            driver.running = true;
            readProcesses(engine);
            driver.opened.getLast().alive = false; // its QEMU died: the driver may not know yet, the domain does
            assertThat(engine.releaseStopped()).containsExactly("vm1");
            assertThat(driver.opened.getLast().closed).isTrue();

            readProcesses(engine);
            driver.startedAt = driver.startedAt.plusSeconds(60); // booted again under the same name
            assertThat(engine.releaseStopped()).containsExactly("vm1");
            assertThat(driver.opened.getLast().closed).isTrue();
        }
    }

    @Test
    void letsGoOfEventChannelsOnlyAfterTheyWentUnusedForTheGivenTime() {
        FakeDriver driver = new FakeDriver();
        try (VmiEngine engine = new VmiEngine(driver)) {
            assertThat(engine.releaseIdleEvents(Duration.ZERO)).as("nothing attached").isEmpty();
            readProcesses(engine);
            FakeDomain domain = driver.opened.getFirst();
            assertThat(engine.releaseIdleEvents(Duration.ofHours(1))).as("idle for less than an hour").isEmpty();
            assertThat(domain.channelReleases).isZero();
            assertThat(engine.releaseIdleEvents(Duration.ZERO)).containsExactly("vm1");
            assertThat(domain.channelOpen).isFalse();
            assertThat(domain.closed).as("the domain itself stays attached").isFalse();
            assertThat(engine.releaseIdleEvents(Duration.ZERO)).as("nothing more to let go").isEmpty();
            readProcesses(engine);
            assertThat(driver.opened).as("no new attachment for the next call").hasSize(1);
        }
    }

    private static void readProcesses(VmiEngine engine) {
        assertThatThrownBy(() -> engine.processes("vm1", AcquisitionMode.LIVE)).isInstanceOf(GuestDataException.class);
    }

    @Test
    void linuxOnMemoryWithoutAKernelIsAGuestDataError() {
        try (VmiEngine engine = new VmiEngine(new FakeDriver())) {
            assertThatThrownBy(() -> engine.processes("vm1", AcquisitionMode.LIVE))
                    .isInstanceOf(GuestDataException.class).hasMessageContaining("banner");
        }
    }

    @Test
    void closedEngineRefusesWork() {
        VmiEngine engine = new VmiEngine(new FakeDriver());
        engine.close();
        assertThatThrownBy(engine::domains).isInstanceOf(SessionClosedException.class);
    }
}
