package dev.periscope.vmi.driver.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.driver.Capability;
import dev.periscope.vmi.driver.Domain;
import dev.periscope.vmi.driver.ImageDriver;
import dev.periscope.vmi.driver.MemorySnapshot;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The transport on loopback: a DriverServer serving guest images, a RemoteDriver reading them. */
class RemoteDriverTest {

    private static final String TOKEN = "t0k3n-for-tests";

    private final ImageDriver images = new ImageDriver("xen", "alpha", "beta");
    private DriverServer server;
    private final AtomicReference<Optional<RemoteEndpoint>> endpoint = new AtomicReference<>(Optional.empty());
    private RemoteDriver remote;

    @BeforeEach
    void start() throws Exception {
        server = new DriverServer(images, new InetSocketAddress("127.0.0.1", 0), TOKEN);
        endpoint.set(Optional.of(new RemoteEndpoint("127.0.0.1", server.port(), TOKEN)));
        remote = new RemoteDriver("xen", endpoint::get);
    }

    @AfterEach
    void stop() {
        remote.close();
        server.close();
    }

    @Test
    void listsTheServedDomainsWithEverythingTheServerKnows() {
        assertThat(remote.domains()).isEqualTo(images.domains());
        assertThat(remote.domain("beta")).isEqualTo(images.domain("beta"));
        assertThat(remote.domain("nope")).isEmpty();
        assertThat(remote.platform()).isEqualTo("xen");
    }

    @Test
    void capabilitiesAreOnlyWhatCrossesTheWire() {
        assertThat(images.capabilities("alpha")).contains(Capability.CR3_EVENTS);
        assertThat(remote.capabilities("alpha")).containsExactlyInAnyOrder(Capability.READ_MEMORY,
                Capability.VCPU_REGISTERS, Capability.PAUSE_RESUME, Capability.COW_SNAPSHOT);
        assertThat(remote.capabilities("nope")).isEmpty();
        try (Domain d = remote.open("alpha")) {
            assertThat(d.capabilities()).doesNotContain(Capability.CR3_EVENTS);
            assertThat(d.eventChannel()).isEmpty();
        }
    }

    @Test
    void readsTheGuestsBytesAcrossPageBoundaries() {
        ImageDriver.Image alpha = images.image("alpha");
        try (Domain d = remote.open("alpha")) {
            assertThat(d.memory().size()).isEqualTo(ImageDriver.IMAGE_BYTES);
            byte[] got = new byte[3 * 4096 + 10];
            d.memory().read(4096 - 5, got, 0, got.length);
            assertThat(got).isEqualTo(Arrays.copyOfRange(alpha.bytes, 4096 - 5, 4096 - 5 + got.length));
            long expected = 0;
            for (int i = 7; i >= 0; i--) {
                expected = expected << 8 | (alpha.bytes[8190 + i] & 0xff);
            }
            assertThat(d.memory().readLong(8190)).isEqualTo(expected);
            assertThat(d.memory().readByte(100)).isEqualTo(alpha.bytes[100]);
            assertThat(d.registers(1).cr3()).isEqualTo(0x2000L);
            assertThat(d.vcpuCount()).isEqualTo(2);
        }
    }

    @Test
    void aWalkReadsEachPageOnceAndAPauseStartsAfresh() {
        ImageDriver.Image alpha = images.image("alpha");
        try (Domain d = remote.open("alpha")) {
            for (int i = 0; i < 200; i++) {
                d.memory().readLong(i * 8L); // one page, 200 fields
            }
            assertThat(alpha.pages.get()).isEqualTo(1);
            d.pause();
            d.memory().readLong(0);
            assertThat(alpha.pages.get()).isEqualTo(2);
            d.resume();
            assertThat(alpha.pauses.get()).isEqualTo(1);
            assertThat(d.lastPauseDuration()).isEqualTo(Duration.ofMillis(3));
        }
    }

    @Test
    void anAbsentPageIsPageNotPresentAtItsAddressAndTheConnectionGoesOn() {
        try (Domain d = remote.open("alpha")) {
            long hole = 17 * 4096L + 40;
            assertThatThrownBy(() -> d.memory().readLong(hole)).isInstanceOf(PageNotPresentException.class)
                    .satisfies(e -> assertThat(((PageNotPresentException) e).address()).isEqualTo(hole));
            assertThatThrownBy(() -> d.memory().readLong(ImageDriver.IMAGE_BYTES - 4))
                    .isInstanceOf(PageNotPresentException.class);
            assertThat(d.memory().readInt(18 * 4096L)).isEqualTo(d.memory().readInt(18 * 4096L));
        }
    }

    @Test
    void theBannerScanRunsOnTheServer() {
        ImageDriver.Image alpha = images.image("alpha");
        byte[] needle = Arrays.copyOfRange(alpha.bytes, 20 * 4096 + 7, 20 * 4096 + 39);
        try (Domain d = remote.open("alpha")) {
            assertThat(d.memory().indexOf(needle, 0, ImageDriver.IMAGE_BYTES)).isEqualTo(20 * 4096L + 7);
            assertThat(alpha.pages.get()).isZero();
        }
    }

    @Test
    void aSnapshotKeepsItsBytesWhileTheGuestChanges() {
        ImageDriver.Image alpha = images.image("alpha");
        try (Domain d = remote.open("alpha"); MemorySnapshot s = d.snapshot()) {
            byte before = alpha.bytes[5000];
            alpha.bytes[5000] = (byte) (before + 1);
            assertThat(s.memory().readByte(5000)).isEqualTo(before);
            assertThat(s.guestDowntime()).isEqualTo(Duration.ofMillis(1));
            assertThat(s.registers(0).cr3()).isEqualTo(0x1000L);
        }
    }

    @Test
    void closingTheDomainOrDroppingTheConnectionReleasesItOnTheServer() throws Exception {
        ImageDriver.Image beta = images.image("beta");
        remote.open("beta").close();
        waitFor(() -> beta.closed.get() == 1);
        Domain d = remote.open("beta");
        server.close(); // the server goes away mid-session
        waitFor(() -> beta.closed.get() == 2);
        assertThatThrownBy(() -> d.memory().readLong(64 * 1024)).isInstanceOf(VmGoneException.class);
        assertThatThrownBy(remote::domains).isInstanceOf(PlatformUnavailableException.class);
        d.close();
    }

    @Test
    void aStoppedGuestIsGoneAndAnAbsentServerMeansTheVmIsNotThere() {
        images.image("beta").running = false;
        assertThatThrownBy(() -> remote.open("beta")).isInstanceOf(VmGoneException.class).hasMessageContaining("beta");
        endpoint.set(Optional.empty());
        assertThatThrownBy(remote::domains).isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("no xen driver server");
        assertThatThrownBy(() -> remote.open("alpha")).isInstanceOf(VmGoneException.class);
    }

    @Test
    void aWrongTokenOrPlatformIsRefused() {
        endpoint.set(Optional.of(new RemoteEndpoint("127.0.0.1", server.port(), "wrong")));
        assertThatThrownBy(remote::domains).isInstanceOf(PlatformUnavailableException.class)
                .hasMessageContaining("wrong token");
        try (RemoteDriver lab = new RemoteDriver("qemu-lab",
                () -> Optional.of(new RemoteEndpoint("127.0.0.1", server.port(), TOKEN)))) {
            assertThatThrownBy(lab::domains).isInstanceOf(PlatformUnavailableException.class)
                    .hasMessageContaining("serves xen, not qemu-lab");
        }
    }

    @Test
    void aMalformedRequestIsAnsweredThenTheConnectionClosedAndOthersGoOn() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] token = TOKEN.getBytes(StandardCharsets.UTF_8);
            out.writeInt(Wire.MAGIC);
            out.writeShort(token.length);
            out.write(token);
            out.writeByte(Wire.READ_PAGES); // without a domain attached, and with a page count out of range
            out.writeInt(Wire.LIVE);
            out.writeLong(0);
            out.writeInt(1_000_000);
            out.flush();
            assertThat(in.readByte()).isEqualTo(Wire.OK);
            assertThat(in.readUTF()).isEqualTo("xen");
            assertThat(in.readByte()).isEqualTo(Wire.BAD_REQUEST);
            assertThat(in.readUTF()).contains("no domain attached");
            in.readLong();
            assertThat(in.read()).isEqualTo(-1);
        }
        assertThat(remote.domains()).hasSize(2);
    }

    @Test
    void aServerThatAcceptsButNeverAnswersIsUnavailableNotAHang() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             RemoteDriver hung = new RemoteDriver("xen",
                     () -> Optional.of(new RemoteEndpoint("127.0.0.1", silent.getLocalPort(), TOKEN)))) {
            assertThatThrownBy(hung::domains).isInstanceOf(PlatformUnavailableException.class)
                    .hasMessageContaining("does not answer");
        }
    }

    private static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        for (int i = 0; i < 200 && !condition.getAsBoolean(); i++) {
            Thread.sleep(10);
        }
        assertThat(condition.getAsBoolean()).isTrue();
    }

}
