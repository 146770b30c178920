package dev.periscope.system;

import io.r2dbc.spi.ConnectionFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.r2dbc.core.DatabaseClient;
import org.springframework.transaction.ReactiveTransactionManager;
import org.springframework.transaction.reactive.TransactionalOperator;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The non-blocking database client every feature's store uses, and transactions over it. The embedded H2 database's
 * connections are used on threads of its own ({@link OffloadedConnectionFactory}), never on the caller's.
 */
@Configuration(proxyBeanMethods = false)
class DatabaseConfiguration {

    /** Threads for the embedded database's statements: its driver blocks the thread it runs on. */
    static final int H2_THREADS = 8;

    @Bean
    static BeanPostProcessor embeddedDatabaseOffEventLoops() {
        return new EmbeddedDatabaseThreads();
    }

    @Bean
    DatabaseClient databaseClient(ConnectionFactory connectionFactory) {
        return DatabaseClient.create(connectionFactory);
    }

    @Bean
    TransactionalOperator transactionalOperator(ReactiveTransactionManager transactionManager) {
        return TransactionalOperator.create(transactionManager);
    }

    /** Wraps the H2 connection factory (the one bean that DatabaseClient and the transaction manager share). */
    static final class EmbeddedDatabaseThreads implements BeanPostProcessor, DisposableBean {
        private final Scheduler scheduler = Schedulers.newBoundedElastic(H2_THREADS, 100_000, "h2");

        @Override
        public Object postProcessAfterInitialization(Object bean, String name) {
            if (bean instanceof ConnectionFactory factory && "H2".equals(factory.getMetadata().getName())) {
                return new OffloadedConnectionFactory(factory, scheduler);
            }
            return bean;
        }

        @Override
        public void destroy() {
            scheduler.dispose();
        }
    }
}
