package dev.periscope.system;

import io.r2dbc.spi.R2dbcNonTransientResourceException;
import io.r2dbc.spi.R2dbcTransientResourceException;
import io.r2dbc.spi.Readable;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import org.springframework.dao.DataAccessResourceFailureException;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.r2dbc.core.Parameter;
import reactor.util.retry.Retry;

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

    /**
     * Retries, every few seconds and for as long as it takes, a write the database could not take because it is away
     * (restarting, unreachable): for the writes that must happen, such as a session's end, never where a caller waits
     * for an answer.
     */
    public static Retry untilAvailable() {
        return Retry.backoff(Long.MAX_VALUE, Duration.ofMillis(500)).maxBackoff(Duration.ofSeconds(5))
                .filter(e -> e instanceof DataAccessResourceFailureException
                        || e instanceof R2dbcNonTransientResourceException || e instanceof R2dbcTransientResourceException);
    }
}
