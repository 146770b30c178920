package dev.periscope.system;

import static org.assertj.core.api.Assertions.assertThat;

import io.r2dbc.spi.ConnectionFactories;
import io.r2dbc.spi.ConnectionFactory;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.r2dbc.core.DatabaseClient;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/** H2's statements run on the database's own threads, not on the thread that asked. */
class OffloadedConnectionFactoryTest {

    private final Scheduler caller = Schedulers.newSingle("fake-event-loop");
    private final Scheduler database = Schedulers.newBoundedElastic(2, 100, "h2-test");
    private final ConnectionFactory h2 = ConnectionFactories.get("r2dbc:h2:mem://sa@/offload-" + UUID.randomUUID()
            + ";DB_CLOSE_DELAY=-1");

    @AfterEach
    void dispose() {
        caller.dispose();
        database.dispose();
    }

    /** The name of the thread on which H2 produced the statement's row, asked for on the caller's thread. */
    private String threadOfARow(ConnectionFactory factory) {
        return Mono.defer(() -> DatabaseClient.create(factory).sql("SELECT 1 AS one")
                        .map(row -> Thread.currentThread().getName()).one())
                .subscribeOn(caller).block();
    }

    @Test
    void h2RunsAStatementOnTheCallersThread() {
        assertThat(threadOfARow(h2)).startsWith("fake-event-loop");
    }

    @Test
    void offloadedItRunsOnTheDatabasesThreads() {
        assertThat(threadOfARow(new OffloadedConnectionFactory(h2, database))).startsWith("h2-test");
    }

    @Test
    void theEmbeddedDatabaseIsTheOneWrapped() {
        var threads = new DatabaseConfiguration.EmbeddedDatabaseThreads();
        try {
            assertThat(threads.postProcessAfterInitialization(h2, "connectionFactory"))
                    .isInstanceOf(OffloadedConnectionFactory.class);
            Object other = new Object();
            assertThat(threads.postProcessAfterInitialization(other, "other")).isSameAs(other);
        } finally {
            threads.destroy();
        }
    }
}
