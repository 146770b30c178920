package dev.periscope.agent;

import dev.periscope.agent.api.AgentError;
import dev.periscope.agent.api.ErrorKind;
import dev.periscope.agent.session.NoSuchSessionException;
import dev.periscope.vmi.GuestDataException;
import dev.periscope.vmi.PageNotPresentException;
import dev.periscope.vmi.PlatformUnavailableException;
import dev.periscope.vmi.SessionClosedException;
import dev.periscope.vmi.VmGoneException;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import java.util.NoSuchElementException;
import java.util.concurrent.RejectedExecutionException;

/**
 * Failures as the agent API reports them: a gRPC status whose trailer {@link #TRAILER} holds an {@link AgentError}
 * naming the engine's failure, so the control plane can answer as the in-process engine would. Used on both sides.
 */
public final class AgentErrors {

    /** The trailer that carries the engine's failure. */
    public static final Metadata.Key<AgentError> TRAILER = ProtoUtils.keyForProto(AgentError.getDefaultInstance());

    private AgentErrors() {
    }

    /** The status for a failure of an agent call. */
    public static StatusRuntimeException status(Throwable failure) {
        ErrorKind kind = switch (failure) {
            case VmGoneException e -> ErrorKind.ERROR_VM_GONE;
            case PageNotPresentException e -> ErrorKind.ERROR_PAGE_NOT_PRESENT;
            case GuestDataException e -> ErrorKind.ERROR_GUEST_DATA;
            case PlatformUnavailableException e -> ErrorKind.ERROR_PLATFORM_UNAVAILABLE;
            case SessionClosedException e -> ErrorKind.ERROR_SESSION_CLOSED;
            case NoSuchSessionException e -> ErrorKind.ERROR_NO_SUCH_SESSION;
            case NoSuchElementException e -> ErrorKind.ERROR_NO_SUCH_PROCESS;
            case IllegalArgumentException e -> ErrorKind.ERROR_INVALID_REQUEST;
            default -> ErrorKind.ERROR_KIND_UNSPECIFIED;
        };
        Status status = switch (kind) {
            case ERROR_VM_GONE, ERROR_NO_SUCH_PROCESS, ERROR_NO_SUCH_SESSION -> Status.NOT_FOUND;
            case ERROR_PAGE_NOT_PRESENT, ERROR_GUEST_DATA -> Status.DATA_LOSS;
            case ERROR_PLATFORM_UNAVAILABLE -> Status.FAILED_PRECONDITION;
            case ERROR_SESSION_CLOSED -> Status.ABORTED;
            case ERROR_INVALID_REQUEST -> Status.INVALID_ARGUMENT;
            case ERROR_KIND_UNSPECIFIED, UNRECOGNIZED -> failure instanceof RejectedExecutionException
                    ? Status.RESOURCE_EXHAUSTED : Status.INTERNAL;
        };
        String message = failure.getMessage() == null ? failure.toString() : failure.getMessage();
        Metadata trailer = new Metadata();
        AgentError.Builder error = AgentError.newBuilder().setKind(kind).setMessage(message);
        if (failure instanceof PageNotPresentException p) {
            error.setAddress(p.address());
        }
        trailer.put(TRAILER, error.build());
        return status.withDescription(message).withCause(failure).asRuntimeException(trailer);
    }
}
