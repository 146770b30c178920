package dev.periscope.vmi.driver.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.VmGoneException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** The QMP client against a scripted fake QEMU on a unix socket. */
class QmpClientTest {

    @TempDir
    Path dir;

    @Test
    void handshakesSkipsEventsAndMatchesReplies() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        List<String> received = new CopyOnWriteArrayList<>();
        try (var server = fakeQemu(socket, received, false)) {
            try (var client = QmpClient.connect(socket, Duration.ofSeconds(5))) {
                List<JsonNode> events = new CopyOnWriteArrayList<>();
                client.onEvent(events::add);
                assertThat(client.execute("query-status").path("status").asString()).isEqualTo("running");
                assertThat(client.humanMonitor("info registers")).contains("CR3=");
                assertThatThrownBy(() -> client.execute("bogus"))
                        .isInstanceOf(PlatformUnavailableException.class)
                        .hasMessageContaining("The command bogus has not been found");
                assertThat(events).extracting(e -> e.path("event").asString()).contains("STOP");
            }
            assertThat(received.getFirst()).contains("qmp_capabilities");
        }
    }

    @Test
    void qemuExitingMidCallMeansTheVmIsGone() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        try (var server = fakeQemu(socket, new CopyOnWriteArrayList<>(), true)) {
            var client = QmpClient.connect(socket, Duration.ofSeconds(5));
            assertThatThrownBy(() -> client.execute("query-status")).isInstanceOf(VmGoneException.class);
            assertThatThrownBy(() -> client.execute("query-status")).isInstanceOf(VmGoneException.class);
            client.close();
        }
    }

    @Test
    void aMissingSocketMeansTheVmIsGone() {
        assertThatThrownBy(() -> QmpClient.connect(dir.resolve("absent.sock"), Duration.ofSeconds(1)))
                .isInstanceOf(VmGoneException.class);
    }

    /** Answers like QEMU; with {@code dieAfterHandshake} it hangs up on the first real command. */
    private static AutoCloseable fakeQemu(Path socket, List<String> received, boolean dieAfterHandshake)
            throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread thread = Thread.ofVirtual().start(() -> {
            try (SocketChannel channel = server.accept();
                 var in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel),
                         StandardCharsets.UTF_8));
                 var out = new PrintWriter(Channels.newOutputStream(channel), true, StandardCharsets.UTF_8)) {
                out.println("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10}}, \"capabilities\": [\"oob\"]}}");
                String line;
                while ((line = in.readLine()) != null) {
                    received.add(line);
                    JsonNode request = QmpClient.JSON.readTree(line);
                    long id = request.path("id").asLong();
                    String command = request.path("execute").asString();
                    switch (command) {
                        case "qmp_capabilities" -> out.println("{\"return\": {}, \"id\": " + id + "}");
                        case "query-status" -> {
                            if (dieAfterHandshake) {
                                return;
                            }
                            out.println("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}");
                            out.println("{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": " + id + "}");
                        }
                        case "human-monitor-command" ->
                                out.println("{\"return\": \"CPU#0\\r\\nCR3=0000000001000000\\r\\n\", \"id\": " + id + "}");
                        default -> out.println("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
                                + command + " has not been found\"}, \"id\": " + id + "}");
                    }
                }
            } catch (IOException e) {
                // client went away
            }
        });
        return () -> {
            server.close();
            thread.interrupt();
        };
    }
}
