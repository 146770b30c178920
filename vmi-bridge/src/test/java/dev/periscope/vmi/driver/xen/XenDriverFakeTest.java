package dev.periscope.vmi.driver.xen;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.MemorySnapshot;
import dev.periscope.vmi.ring.Breakpoint;
import dev.periscope.vmi.ring.EventChannel;
import dev.periscope.vmi.ring.EventRing;
import dev.periscope.vmi.ring.RingControl;
import dev.periscope.vmi.ring.RingEvent;
import dev.periscope.vmi.ring.RingEventKind;
import dev.periscope.vmi.ring.RingMode;
import dev.periscope.vmi.ring.RingToken;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Xen driver's code paths against libperiscope-xen-fake.so, the shim's test double (built here with
 * {@code make -C native/xen fake}; skipped without make and a C compiler).
 */
class XenDriverFakeTest {
    private static final long KERNEL_ENTRY = 0xffffffff81000040L;
    /** The fake's bit for an enabled vm_event ring (FAKE_ARMED_RING): the others are events armed on it. */
    private static final int FAKE_ARMED_RING = 8;
    private static Path library;

    @TempDir
    static Path dir;

    @BeforeAll
    static void buildFake() throws Exception {
        Path module = Path.of("").toAbsolutePath();
        Path out = Path.of(System.getProperty("periscope.native.dir", module.resolve("target/native").toString()));
        library = out.resolve("libperiscope-xen-fake.so");
        Process p; /* make is incremental: this also rebuilds a stale fake */
        try {
            p = new ProcessBuilder("make", "-s", "-C", module.resolve("native/xen").toString(), "OUT=" + out, "fake")
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "make is not installed: cannot build the Xen shim's fake");
            return;
        }
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("make fake timed out").isTrue();
        assumeTrue(p.exitValue() == 0 || !log.contains("not found"), "no C compiler: cannot build the Xen shim's fake");
        assertThat(p.exitValue()).as(log).isZero();
        System.setProperty(XenNative.LIBRARY_PROPERTY, library.toString());

        byte[] ram = new byte[3 * 4096];
        System.arraycopy("PAGE0".getBytes(StandardCharsets.US_ASCII), 0, ram, 0, 5);
        byte[] banner = "Linux version 6.1.0-fake".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(banner, 0, ram, 2 * 4096 + 100, banner.length);
        ram[8] = 0x11;
        ram[15] = 0x22;
        Files.write(dir.resolve("ram.bin"), ram);
    }

    private static Path config(String name, String extra) throws IOException {
        Path ram = dir.resolve("ram.bin");
        String text = """
                domain 7 web 1 2 %s
                absent 7 1
                regs 7 1 0xffffffff81000040 0x2000 0x20 0xd01 0x1000 0x2000
                translate 7 0xffffffff81000000 0x1000
                cr3 7 0 0x5000 0x2000 0x1
                cr3 7 0 0x5000 0x7000 0x2
                cr3 7 1 0x3001 0x9000 0x3
                cr3 7 1 0x9000 0x5000 0x4
                bp 7 0 0x1000 0xffffffff81000040 0x2000 59 0x11 0x22 0x33 0x44 0x55 0x66
                domain 8 db 1 1 %s
                cr3 8 0 1 2 3
                cr3 8 0 2 3 4
                gone_after 8 1
                domain 9 pv 0 1 %s
                """.formatted(ram, ram, ram) + extra;
        Path cfg = dir.resolve(name);
        Files.writeString(cfg, text);
        return cfg;
    }

    @Test
    void listsDomainsAndTheirCapabilities() throws Exception {
        try (XenDriver xen = new XenDriver(config("list.conf", """
                label 7 system_u:system_r:acme_domU_t
                label 8 system_u:system_r:periscope_acme_t
                label 9 system_u:system_r:domU_t
                """).toString())) {
            assertThat(xen.platform()).isEqualTo("xen");
            assertThat(xen.domains()).extracting(d -> d.name()).containsExactly("web", "db", "pv");
            assertThat(xen.domain("web")).get().satisfies(d -> {
                assertThat(d.running()).isTrue();
                assertThat(d.memoryBytes()).isEqualTo(3 * 4096);
            });
            assertThat(xen.domains()).as("the tenant from the FLASK label: a tenant's guest type only")
                    .extracting(d -> d.tenant()).containsExactly("acme", "", "");
            assertThat(xen.capabilities("web")).contains(Capability.CR3_EVENTS, Capability.READ_MEMORY);
            assertThat(xen.capabilities("pv")).doesNotContain(Capability.CR3_EVENTS);
            assertThat(xen.capabilities("nope")).isEmpty();
            assertThatThrownBy(() -> xen.open("nope")).isInstanceOf(VmGoneException.class);
        }
    }

    @Test
    void aTenantIsReadOnlyFromATenantGuestsSecurityContext() {
        assertThat(XenDomainEntry.tenantOf("system_u:system_r:globex_domU_t")).isEqualTo("globex");
        assertThat(XenDomainEntry.tenantOf("user_1:vm_r:acme_domU_t:s0")).as("another user, role and an MLS level")
                .isEqualTo("acme");
        assertThat(XenDomainEntry.tenantOf("system_u:system_r:domU_t")).isEmpty();
        assertThat(XenDomainEntry.tenantOf("system_u:system_r:prot_domU_t")).as("Xen's own module's type").isEmpty();
        assertThat(XenDomainEntry.tenantOf("system_u:system_r:periscope_acme_t")).as("a monitoring domain").isEmpty();
        assertThat(XenDomainEntry.tenantOf("system_u:system_r:Acme_domU_t")).as("not a tenant id").isEmpty();
        assertThat(XenDomainEntry.tenantOf("")).as("no FLASK").isEmpty();
    }

    @Test
    void readsGuestMemoryThroughMappedFramesAndRegisters() throws Exception {
        try (XenDriver xen = new XenDriver(config("read.conf", "").toString());
             XenDomain web = xen.open("web")) {
            assertThat(web.capabilities()).contains(Capability.HYPERVISOR_CR3_FILTER, Capability.HYPERVISOR_BREAKPOINTS,
                    Capability.COW_SNAPSHOT);
            var mem = web.memory();
            assertThat(mem.size()).isEqualTo(3 * 4096);
            byte[] b = new byte[5];
            mem.read(0, b, 0, 5);
            assertThat(new String(b, StandardCharsets.US_ASCII)).isEqualTo("PAGE0");
            assertThat(mem.readLong(8)).isEqualTo(0x2200000000000011L);
            assertThatThrownBy(() -> mem.readByte(4096 + 5))
                    .isInstanceOfSatisfying(PageNotPresentException.class, e -> assertThat(e.address()).isEqualTo(4096 + 5));
            assertThatThrownBy(() -> mem.readByte(3 * 4096)).isInstanceOf(PageNotPresentException.class);
            assertThat(mem.indexOf("Linux version".getBytes(StandardCharsets.US_ASCII), 0, mem.size()))
                    .isEqualTo(2 * 4096 + 100);

            var regs = web.registers(1);
            assertThat(regs.cr3()).isEqualTo(0x2000);
            assertThat(regs.rip()).isEqualTo(KERNEL_ENTRY);
            assertThat(regs.kernelGsBase()).isEqualTo(0x2000);
            assertThat(web.vcpuCount()).isEqualTo(2);
            assertThatThrownBy(() -> web.registers(5)).isInstanceOf(IllegalArgumentException.class);

            web.pause();
            web.resume();
            assertThat(web.lastPauseDuration()).isPositive();

            try (MemorySnapshot snap = web.snapshot()) {
                assertThat(snap.guestDowntime()).isPositive().isLessThanOrEqualTo(snap.totalTime());
                assertThat(snap.memory().readLong(8)).isEqualTo(0x2200000000000011L);
                assertThat(snap.registers(1).cr3()).isEqualTo(0x2000);
                assertThatThrownBy(() -> snap.memory().readByte(4096)).isInstanceOf(PageNotPresentException.class);
            }
        }
    }

    @Test
    void monitorWritesRingRecordsFilteredInTheHypervisorAndDisarmsOnClose() throws Exception {
        RingToken token = RingToken.random();
        try (XenDriver xen = new XenDriver(config("events.conf", "").toString());
             XenDomain web = xen.open("web");
             EventRing ring = EventRing.create(dir.resolve("web.ring"), 2, 64, token)) {
            ring.configure(RingControl.off().withModes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.SYSCALL)
                    .withDtbs(List.of(0x2000L)).withBreakpoints(List.of(Breakpoint.syscallEntry(KERNEL_ENTRY))));
            XenMonitor monitor = web.startMonitor(ring.path(), token);
            List<RingEvent> events = new ArrayList<>();
            for (int i = 0; i < 2000 && events.size() < 3; i++) {
                ring.drainTo(events::add, 64);
                Thread.sleep(1);
            }
            assertThat(events).extracting(RingEvent::kind)
                    .containsExactlyInAnyOrder(RingEventKind.CR3_WRITE, RingEventKind.CR3_WRITE, RingEventKind.SYSCALL);
            assertThat(events).filteredOn(e -> e.kind() == RingEventKind.SYSCALL).singleElement().satisfies(e -> {
                assertThat(e.syscallNumber()).isEqualTo(59);
                assertThat(e.args()).startsWith(0x11, 0x22, 0x33, 0x44);
            });
            assertThat(monitor.stats().hypervisorSuppressed()).isEqualTo(2);
            assertThat(monitor.stats().state()).isEqualTo(XenMonitor.State.RUNNING);
            assertThat(armed(web)).isNotZero();
            assertThatThrownBy(() -> web.startMonitor(ring.path(), token)).isInstanceOf(IllegalStateException.class);

            monitor.close();
            assertThat(armed(web)).isZero();
            assertThat(ring.producerDetached()).isTrue();
        }
    }

    @Test
    void theEventChannelIsTheDomainsMonitorOnItsOwnRingStartedOffAndRemovedWithTheDomain() throws Exception {
        try (XenDriver xen = new XenDriver(config("channel.conf", "").toString())) {
            Path ringFile;
            XenDomain web = xen.open("web");
            try (web) {
                EventChannel channel = web.eventChannel().orElseThrow();
                assertThat(web.eventChannel()).containsSame(channel);
                ringFile = ((EventRing) channel).path();
                assertThat(Files.getPosixFilePermissions(ringFile)).containsExactlyInAnyOrder(
                        PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
                assertThat(channel.lanes()).isEqualTo(2);
                assertThat(channel.producerAttached()).isTrue();
                assertThat(channel.armed()).isFalse();
                assertThat(armed(web)).as("the vm_event ring and nothing armed on it").isEqualTo(FAKE_ARMED_RING);

                channel.configure(RingControl.off().withModes(RingMode.CR3, RingMode.CR3_FILTER, RingMode.SYSCALL)
                        .withDtbs(List.of(0x2000L)).withBreakpoints(List.of(Breakpoint.syscallEntry(KERNEL_ENTRY))));
                assertThat(channel.awaitApplied(java.time.Duration.ofSeconds(5))).isTrue();
                List<RingEventKind> kinds = new ArrayList<>();
                List<Long> syscalls = new ArrayList<>();
                for (int i = 0; i < 2000 && kinds.size() < 3; i++) {
                    channel.poll(r -> {
                        kinds.add(r.kind());
                        if (r.kind() == RingEventKind.SYSCALL) {
                            syscalls.add(r.syscallNumber());
                        }
                    }, 64);
                    Thread.sleep(1);
                }
                assertThat(kinds).containsExactlyInAnyOrder(RingEventKind.CR3_WRITE, RingEventKind.CR3_WRITE,
                        RingEventKind.SYSCALL);
                assertThat(syscalls).containsExactly(59L);
                assertThat(channel.counters().delivered()).isEqualTo(3);
                assertThat(armed(web)).isNotZero();
                assertThatThrownBy(() -> web.startMonitor(dir.resolve("second.ring"), RingToken.random()))
                        .isInstanceOf(IllegalStateException.class);
            }
            assertThat(ringFile).doesNotExist();
            assertThatThrownBy(web::eventChannel).isInstanceOf(IllegalStateException.class);
        }
        try (XenDriver xen = new XenDriver(config("pv-channel.conf", "").toString()); XenDomain pv = xen.open("pv")) {
            assertThat(pv.eventChannel()).isEmpty();
        }
    }

    @Test
    void aReleasedEventChannelFreesTheDomainsVmEventRingForAnotherMonitorAndTheNextUseOpensANewOne() throws Exception {
        try (XenDriver xen = new XenDriver(config("release.conf", "").toString()); XenDomain web = xen.open("web")) {
            EventChannel first = web.eventChannel().orElseThrow();
            Path firstRing = ((EventRing) first).path();
            assertThat(armed(web)).isEqualTo(FAKE_ARMED_RING);
            assertThatThrownBy(() -> web.startMonitor(dir.resolve("taken.ring"), RingToken.random()))
                    .as("the domain's one vm_event ring is taken").isInstanceOf(IllegalStateException.class);

            assertThat(web.releaseEventChannel()).isTrue();
            assertThat(armed(web)).as("the vm_event ring disabled").isZero();
            assertThat(firstRing).doesNotExist();
            assertThat(web.releaseEventChannel()).as("nothing left to release").isFalse();
            // another monitor may now take the ring, and give it back
            RingToken token = RingToken.random();
            try (EventRing other = EventRing.create(dir.resolve("other.ring"), 2, 64, token)) {
                web.startMonitor(other.path(), token).close();
            }

            EventChannel second = web.eventChannel().orElseThrow();
            assertThat(second).isNotSameAs(first);
            assertThat(second.producerAttached()).isTrue();
            assertThat(armed(web)).isEqualTo(FAKE_ARMED_RING);
        }
    }

    @Test
    void aVanishingDomainStopsTheMonitorAndEverythingIsDisarmed() throws Exception {
        RingToken token = RingToken.random();
        try (XenDriver xen = new XenDriver(config("gone.conf", "").toString());
             EventRing ring = EventRing.create(dir.resolve("db.ring"), 1, 64, token)) {
            ring.configure(RingControl.off().withModes(RingMode.CR3));
            XenDomain db = xen.open("db");
            XenMonitor monitor = db.startMonitor(ring.path(), token);
            for (int i = 0; i < 2000 && monitor.stats().state() == XenMonitor.State.RUNNING; i++) {
                Thread.sleep(1);
            }
            assertThat(monitor.stats().state()).isEqualTo(XenMonitor.State.FAILED);
            assertThat(armed(db)).isZero();
            assertThatThrownBy(() -> db.registers(0)).isInstanceOf(VmGoneException.class);
            assertThatThrownBy(db::close).isInstanceOf(VmGoneException.class).hasMessageContaining("gone");
            assertThat(xen.domains()).extracting(d -> d.name()).doesNotContain("db");
        }
    }

    /** A PV guest's page tables name machine frames: its memory maps those back to the guest's own, and no others. */
    @Test
    void aPvGuestsMachineFramesMapBackToItsOwnFrames() throws Exception {
        long machineBase = 0x100000L << 12; // the fake's PV domains: frame g is machine frame g + 0x100000
        try (XenDriver xen = new XenDriver(config("pv-frames.conf", "").toString());
             XenDomain pv = xen.open("pv"); XenDomain web = xen.open("web")) {
            var mem = pv.memory();
            assertThat(mem.pageTablesHoldMachineFrames()).isTrue();
            assertThat(mem.pageTableFrame(machineBase + 2 * 4096)).isEqualTo(2 * 4096);
            assertThatThrownBy(() -> mem.pageTableFrame(machineBase + 3 * 4096)).isInstanceOf(PageNotPresentException.class);
            assertThatThrownBy(() -> mem.pageTableFrame(4096)).isInstanceOf(PageNotPresentException.class)
                    .hasMessageContaining("not domain 9's");
            assertThat(web.memory().pageTablesHoldMachineFrames()).isFalse();
            assertThat(web.memory().pageTableFrame(4096)).isEqualTo(4096);
        }
    }

    @Test
    void nativeFailuresBecomeTheVmiExceptionsWithErrno() throws Exception {
        try (XenDriver xen = new XenDriver(config("denied.conf", "fail attach 4 13\n").toString())) {
            assertThatThrownBy(() -> xen.open("web")).isInstanceOf(PlatformUnavailableException.class)
                    .hasMessageContaining("XSM/FLASK").hasMessageContaining("errno 13");
        }
        assertThatThrownBy(() -> new XenDriver(dir.resolve("missing.conf").toString()))
                .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("errno 2");
        try (XenDriver xen = new XenDriver(config("pv.conf", "").toString()); XenDomain pv = xen.open("pv")) {
            assertThat(pv.capabilities()).doesNotContain(Capability.CR3_EVENTS, Capability.COW_SNAPSHOT);
            assertThatThrownBy(pv::snapshot).isInstanceOf(PlatformUnavailableException.class);
            assertThatThrownBy(() -> pv.startMonitor(dir.resolve("none.ring"), RingToken.random()))
                    .isInstanceOf(PlatformUnavailableException.class).hasMessageContaining("PV");
        }
    }

    /** The fake's test-only report of what its "hypervisor" still has armed for the domain. */
    private static int armed(XenDomain d) {
        MethodHandle h = Linker.nativeLinker().downcallHandle(
                SymbolLookup.libraryLookup(library, java.lang.foreign.Arena.global()).findOrThrow("periscope_xen_fake_armed"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        try {
            return (int) h.invokeExact((MemorySegment) d.handle());
        } catch (Throwable e) {
            throw new AssertionError(e);
        }
    }
}
