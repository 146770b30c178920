package dev.periscope.account;

import dev.periscope.system.PeriscopeProperties;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import org.springframework.stereotype.Component;

/**
 * The bootstrap operator's password and API token. Created once under the var directory (owner-only
 * permissions) so that a restarted server keeps them; only a SHA-256 hash of the token is held in memory.
 */
@Component
class BootstrapCredentials {

    static final String OPERATOR = "operator";

    private final String operatorPassword;
    private final byte[] operatorTokenHash;

    BootstrapCredentials(PeriscopeProperties properties) {
        Path var = properties.varDir();
        this.operatorPassword = readOrCreate(var.resolve("operator.password"), 12);
        this.operatorTokenHash = sha256(readOrCreate(var.resolve("operator.token"), 32));
    }

    String operatorPassword() {
        return operatorPassword;
    }

    boolean isOperatorToken(String presented) {
        return MessageDigest.isEqual(operatorTokenHash, sha256(presented));
    }

    static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static String readOrCreate(Path file, int randomBytes) {
        try {
            if (Files.exists(file)) {
                String existing = Files.readString(file).strip();
                if (!existing.isEmpty()) {
                    return existing;
                }
            }
            Files.createDirectories(file.getParent());
            byte[] random = new byte[randomBytes];
            new SecureRandom().nextBytes(random);
            String secret = HexFormat.of().formatHex(random);
            Files.deleteIfExists(file);
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(file, secret + "\n");
            return secret;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or create " + file, e);
        }
    }
}
