package dev.periscope.fleet;

import dev.periscope.agent.TlsFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Certificates for tests of the agent API's mutual TLS, from the project's own script ({@code agent/certs.sh}), and
 * agent certificates the script will not make (subject alternative names of the test's choice), signed with
 * openssl by the script's CA.
 */
public final class TestPki {

    private TestPki() {
    }

    /** Runs {@code agent/certs.sh DIR ARGS...}; fails the test with its output unless it succeeds. */
    public static void certs(Path dir, String... args) {
        List<String> command = new ArrayList<>(List.of("bash",
                Path.of(System.getProperty("periscope.repo", "..")).resolve("agent/certs.sh").toString(),
                dir.toString()));
        command.addAll(List.of(args));
        run(command);
    }

    /**
     * {@code DIR/agent-NAME.pem} and {@code .key}, signed by {@code DIR}'s CA, with subject alternative names
     * {@code periscope-agent}, localhost, 127.0.0.1 and {@code extraNames} (openssl's syntax: {@code URI:...}).
     */
    public static void agent(Path dir, String name, String... extraNames) {
        String san = String.join(",", List.of("DNS:periscope-agent", "DNS:localhost", "IP:127.0.0.1"))
                + (extraNames.length == 0 ? "" : "," + String.join(",", extraNames));
        run(List.of("bash", "-euo", "pipefail", "-c", """
                cd "$1"; umask 077
                openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "agent-$2.key" 2>/dev/null
                printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n\
                extendedKeyUsage=serverAuth\\nsubjectAltName=%s\\n' "$3" > "agent-$2.ext"
                openssl req -new -key "agent-$2.key" -subj "/CN=$2/O=Periscope" |
                    openssl x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 2 \
                        -extfile "agent-$2.ext" -out "agent-$2.pem" 2>/dev/null
                rm -f "agent-$2.ext" ca.srl; chmod 0644 "agent-$2.pem"
                """, "agent-pem", dir.toString(), name, san));
    }

    /** The files agent {@code name} of {@code dir} serves with. */
    public static TlsFiles agentFiles(Path dir, String name) {
        return new TlsFiles(dir.resolve("ca.pem"), dir.resolve("agent-" + name + ".pem"),
                dir.resolve("agent-" + name + ".key"));
    }

    private static void run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) {
                throw new AssertionError(String.join(" ", command) + " failed: " + out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }
}
