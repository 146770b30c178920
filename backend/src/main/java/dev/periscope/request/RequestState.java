package dev.periscope.request;

/** A self-service request's state. */
enum RequestState {
    SUBMITTED, APPROVED, REJECTED, EXPIRED
}
