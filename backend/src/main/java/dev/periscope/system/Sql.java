package dev.periscope.system;

import io.r2dbc.spi.Readable;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.r2dbc.core.Parameter;

/**
 * Small helpers for hand-written SQL over {@link DatabaseClient}: timestamps travel as UTC
 * {@link OffsetDateTime} (both H2 and PostgreSQL map TIMESTAMP WITH TIME ZONE to it), nulls carry their type.
 */
public final class Sql {

    private Sql() {
    }

    /** A nullable value with its type, for {@link DatabaseClient.GenericExecuteSpec#bindValues(Map)}. */
    public static Parameter value(Object value, Class<?> type) {
        if (value instanceof Instant instant) {
            return Parameter.from(instant.atOffset(ZoneOffset.UTC));
        }
        if (type == Instant.class) {
            return Parameter.empty(OffsetDateTime.class);
        }
        return Parameter.fromOrEmpty(value, type);
    }

    public static Instant instant(Readable row, String column) {
        OffsetDateTime time = row.get(column, OffsetDateTime.class);
        return time == null ? null : time.toInstant();
    }

    public static Integer integer(Readable row, String column) {
        Number n = row.get(column, Number.class);
        return n == null ? null : n.intValue();
    }

    public static long longValue(Readable row, String column) {
        Number n = row.get(column, Number.class);
        return n == null ? 0 : n.longValue();
    }

    public static OffsetDateTime utc(Instant instant) {
        return instant.atOffset(ZoneOffset.UTC);
    }
}
