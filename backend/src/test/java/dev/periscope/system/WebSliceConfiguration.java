package dev.periscope.system;

import dev.periscope.account.AccountSliceConfiguration;
import dev.periscope.audit.Audit;
import dev.periscope.overhead.Overhead;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.flyway.autoconfigure.FlywayAutoConfiguration;
import org.springframework.boot.r2dbc.autoconfigure.R2dbcAutoConfiguration;
import org.springframework.boot.r2dbc.autoconfigure.R2dbcTransactionManagerAutoConfiguration;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * What a {@code @WebFluxTest} slice needs around its controller: the real security setup (users and tokens
 * from a real database: an H2 file in the test's var directory, migrated by Flyway), error mapping, page support,
 * audit and configuration, with a small read scheduler. The engine itself is left to each test.
 */
@TestConfiguration(proxyBeanMethods = false)
@EnableConfigurationProperties(PeriscopeProperties.class)
@ImportAutoConfiguration({R2dbcAutoConfiguration.class, R2dbcTransactionManagerAutoConfiguration.class,
        FlywayAutoConfiguration.class})
@Import({AccountSliceConfiguration.class, EngineErrors.class, ApiErrors.class, DatabaseConfiguration.class,
        RateLimiter.class, Audit.class, Overhead.class})
public class WebSliceConfiguration {

    @Bean(destroyMethod = "dispose")
    Scheduler blockingReads() {
        return Schedulers.newBoundedElastic(2, 16, "test-read");
    }

    /** A fresh var directory for one test class: its own bootstrap credentials and database. */
    public static Path newVarDir() {
        try {
            return Files.createTempDirectory("periscope-slice-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bootstrap operator token the slice's server accepts (created under {@code periscope.var-dir}). */
    public static String operatorToken(Path varDir) throws IOException {
        return Files.readString(varDir.resolve("operator.token")).strip();
    }
}
