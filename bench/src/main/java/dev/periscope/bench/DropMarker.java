package dev.periscope.bench;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A session stream's {@code dropped} event as a benchmark client reads it: how many events were lost and where
 * ({@code STREAM}, {@code RING}, ...; {@code ?} when the marker names no site).
 */
record DropMarker(long count, String where) {

    private static final Pattern COUNT = Pattern.compile("\"count\":(\\d+)");
    private static final Pattern WHERE = Pattern.compile("\"where\":\"([A-Z_]+)\"");

    /** The marker in an SSE {@code data:} payload (the JSON after {@code data:}). */
    static DropMarker parse(String data) {
        Matcher count = COUNT.matcher(data);
        Matcher where = WHERE.matcher(data);
        return new DropMarker(count.find() ? Long.parseLong(count.group(1)) : 0, where.find() ? where.group(1) : "?");
    }
}
