package dev.periscope.vmi.ring;

import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The capability the launcher gives both the extension (plugin argument {@code token=HEX32}) and Periscope:
 * the extension honours control writes only when the control block carries it. {@code hex} is
 * {@code high} then {@code low}, 16 hex digits each ({@code control.token[0]} is {@code high}).
 */
public record RingToken(long high, long low) {

    private static final SecureRandom RANDOM = new SecureRandom();

    public static RingToken random() {
        return new RingToken(RANDOM.nextLong(), RANDOM.nextLong());
    }

    public static RingToken parse(String hex) {
        if (hex.length() != 32) {
            throw new IllegalArgumentException("a ring token is 32 hex digits");
        }
        return new RingToken(HexFormat.fromHexDigitsToLong(hex, 0, 16), HexFormat.fromHexDigitsToLong(hex, 16, 32));
    }

    public String hex() {
        HexFormat h = HexFormat.of();
        return h.toHexDigits(high) + h.toHexDigits(low);
    }

    @Override
    public String toString() {
        return "RingToken[redacted]";
    }
}
