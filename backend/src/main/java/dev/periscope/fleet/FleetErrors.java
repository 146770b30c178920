package dev.periscope.fleet;

import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;

/** An unreachable agent as an RFC 9457 problem: 503, the VM's host named. */
@RestControllerAdvice
class FleetErrors {

    @ExceptionHandler(AgentUnreachableException.class)
    ProblemDetail unreachable(AgentUnreachableException e) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.SERVICE_UNAVAILABLE, e.getMessage());
        problem.setTitle("Agent unreachable");
        problem.setProperty("host", e.host());
        return problem;
    }
}
