package dev.periscope.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Where the checkout's deployment files are, and the project's version (the images' tag). */
final class Repository {

    private Repository() {
    }

    static Path root() {
        return Path.of(System.getProperty("periscope.repo", "..")).toAbsolutePath().normalize();
    }

    static Path chart() {
        return root().resolve("helm/periscope");
    }

    static Path composeFile() {
        return root().resolve("docker-compose.yml");
    }

    /** The project's version from the root pom: the tag of every Periscope image. */
    static String version() {
        try {
            Matcher m = Pattern.compile("<artifactId>periscope-parent</artifactId>\\s*<version>([^<]+)</version>")
                    .matcher(Files.readString(root().resolve("pom.xml")));
            if (!m.find()) {
                throw new IllegalStateException("no periscope-parent version in pom.xml");
            }
            return m.group(1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
