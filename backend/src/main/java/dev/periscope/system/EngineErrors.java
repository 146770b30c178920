package dev.periscope.system;

import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import dev.periscope.vmi.VmiException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;

/** Engine failures as RFC 9457 problem details, with the engine's own message. */
@RestControllerAdvice
class EngineErrors {

    @ExceptionHandler(VmiException.class)
    ProblemDetail engineFailure(VmiException failure) {
        HttpStatus status = switch (failure) {
            case VmGoneException _ -> HttpStatus.CONFLICT;
            case PlatformUnavailableException _ -> HttpStatus.SERVICE_UNAVAILABLE;
            case GuestDataException _, PageNotPresentException _ -> HttpStatus.UNPROCESSABLE_CONTENT;
            case SessionClosedException _ -> HttpStatus.GONE;
            default -> HttpStatus.INTERNAL_SERVER_ERROR;
        };
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, failure.getMessage());
        problem.setTitle(switch (failure) {
            case VmGoneException _ -> "VM not running";
            case PlatformUnavailableException _ -> "Platform cannot do this";
            case GuestDataException _, PageNotPresentException _ -> "Guest memory unreadable";
            case SessionClosedException _ -> "Session closed";
            default -> "Introspection failed";
        });
        return problem;
    }
}
