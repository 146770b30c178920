package dev.periscope.syscall;

/** The archive refused rows: its disk is down to the reserve the database needs. */
public final class ArchiveFullException extends RuntimeException {

    ArchiveFullException(String why) {
        super("the archive is full: " + why);
    }
}
