package dev.periscope.system;

import java.io.IOException;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * How database failures reach a client: the shape the embedded database's full disk produced in the fault suite
 * (a write fails, giving the connection back fails after it, Reactor reports the second over the driver's SQL error)
 * is a 503 problem, not a server error; an error that is not the database's stays a 500.
 */
class ApiErrorsTest {

    @RestController
    static class Failing {
        @GetMapping("/disk-full")
        Mono<String> diskFull() {
            IOException disk = new IOException("No space left on device");
            SQLException driver = new SQLException("General error: \"org.h2.mvstore.MVStoreException: Writing to "
                    + "sun.nio.ch.FileChannelImpl failed; length 20480 at 1589248\" [50000-240]", disk);
            return Mono.error(new RuntimeException("Async resource cleanup failed after onError",
                    new IllegalStateException("General error", driver)));
        }

        @GetMapping("/bug")
        Mono<String> bug() {
            return Mono.error(new IllegalStateException("not the database"));
        }
    }

    private final WebTestClient web = WebTestClient.bindToController(new Failing()).controllerAdvice(new ApiErrors())
            .build();

    @Test
    void aDatabaseFailureTheDriverDidNotTranslateIsUnavailableNotAServerError() {
        web.get().uri("/disk-full").exchange()
                .expectStatus().isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
                .expectBody()
                .jsonPath("$.title").isEqualTo("Database unavailable")
                .jsonPath("$.detail").isEqualTo("the database is unavailable");
    }

    @Test
    void anErrorThatIsNotTheDatabasesStaysAServerError() {
        web.get().uri("/bug").exchange().expectStatus().isEqualTo(HttpStatus.INTERNAL_SERVER_ERROR);
    }
}
