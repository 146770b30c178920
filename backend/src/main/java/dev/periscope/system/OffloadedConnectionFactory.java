package dev.periscope.system;

import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryMetadata;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * A connection factory whose connections are made, and so used, on a scheduler of the database's own: H2's R2DBC
 * driver does its work synchronously on the thread that subscribes, which for a request is a Netty event loop. A
 * statement runs where its connection was emitted (DatabaseClient and the transaction manager go on from there), so
 * moving the connection's creation off the caller's thread moves the statements, their rows and the connection's
 * release with it.
 */
final class OffloadedConnectionFactory implements ConnectionFactory {

    private final ConnectionFactory delegate;
    private final Scheduler scheduler;

    OffloadedConnectionFactory(ConnectionFactory delegate, Scheduler scheduler) {
        this.delegate = delegate;
        this.scheduler = scheduler;
    }

    @Override
    public Publisher<? extends Connection> create() {
        return Mono.from(delegate.create()).subscribeOn(scheduler);
    }

    @Override
    public ConnectionFactoryMetadata getMetadata() {
        return delegate.getMetadata();
    }

    @Override
    public String toString() {
        return "OffloadedConnectionFactory[" + delegate + "]";
    }
}
