package dev.periscope.system;

import java.sql.SQLException;
import java.util.stream.Collectors;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.dao.DataAccessResourceFailureException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.bind.support.WebExchangeBindException;
import org.springframework.web.method.annotation.HandlerMethodValidationException;

/**
 * Invalid input as a 400 problem that names every field and what is wrong with it; a database that fails as a 503
 * problem.
 */
@RestControllerAdvice
@Order(Ordered.HIGHEST_PRECEDENCE)
class ApiErrors {

    @ExceptionHandler(WebExchangeBindException.class)
    ProblemDetail invalidBody(WebExchangeBindException e) {
        String detail = e.getFieldErrors().stream()
                .map(f -> f.getField() + " " + f.getDefaultMessage())
                .sorted()
                .collect(Collectors.joining("; "));
        if (detail.isEmpty()) {
            detail = e.getAllErrors().stream().map(x -> String.valueOf(x.getDefaultMessage()))
                    .collect(Collectors.joining("; "));
        }
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, detail);
        problem.setTitle("Invalid request");
        return problem;
    }

    @ExceptionHandler(HandlerMethodValidationException.class)
    ProblemDetail invalidParameter(HandlerMethodValidationException e) {
        String detail = e.getParameterValidationResults().stream()
                .flatMap(r -> r.getResolvableErrors().stream().map(err -> r.getMethodParameter().getParameterName()
                        + " " + err.getDefaultMessage()))
                .sorted()
                .collect(Collectors.joining("; "));
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, detail);
        problem.setTitle("Invalid request");
        return problem;
    }

    @ExceptionHandler(DataAccessResourceFailureException.class)
    ProblemDetail database(DataAccessResourceFailureException e) {
        return databaseUnavailable();
    }

    /**
     * The database failed in a way its driver did not translate: a write to the embedded database on a full disk fails,
     * and giving its connection back fails after it, which Reactor reports as "Async resource cleanup failed" over
     * the driver's {@link SQLException} (Spring matches a handler against every cause). That was a 500; it is the
     * database being unavailable, as a full disk's other failures are.
     */
    @ExceptionHandler(SQLException.class)
    ProblemDetail databaseFailed(SQLException e) {
        return databaseUnavailable();
    }

    private static ProblemDetail databaseUnavailable() {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.SERVICE_UNAVAILABLE,
                "the database is unavailable");
        problem.setTitle("Database unavailable");
        return problem;
    }
}
