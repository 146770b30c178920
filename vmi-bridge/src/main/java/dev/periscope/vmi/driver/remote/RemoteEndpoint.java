package dev.periscope.vmi.driver.remote;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a {@link DriverServer} listens and the token it wants.
 *
 * @param host  host name or address
 * @param port  TCP port
 * @param token the shared secret the server checks (never logged)
 */
public record RemoteEndpoint(String host, int port, String token) {

    public RemoteEndpoint {
        if (host == null || host.isBlank() || port < 1 || port > 65535 || token == null || token.isBlank()) {
            throw new IllegalArgumentException("an endpoint needs a host, a port in 1..65535 and a token");
        }
    }

    /**
     * Reads an endpoint file, one line {@code HOST PORT TOKEN} (what the Xen lab writes when its agent is up);
     * empty when the file does not exist, so a platform that is not running is simply absent.
     *
     * @throws IllegalArgumentException a file that exists but does not hold an endpoint
     */
    public static Optional<RemoteEndpoint> fromFile(Path file) {
        String text;
        try {
            text = Files.readString(file).strip();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the endpoint file " + file + ": " + e.getMessage(), e);
        }
        String[] words = text.split("\\s+");
        if (words.length != 3) {
            throw new IllegalArgumentException(file + " is not an endpoint file (HOST PORT TOKEN)");
        }
        try {
            return Optional.of(new RemoteEndpoint(words[0], Integer.parseInt(words[1]), words[2]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": port '" + words[1] + "' is not a number", e);
        }
    }

    @Override
    public String toString() {
        return host + ":" + port; // not the token
    }
}
