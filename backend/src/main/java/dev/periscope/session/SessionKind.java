package dev.periscope.session;

/** What a session watches: periodic process lists, or the syscalls of one target process. */
public enum SessionKind {
    PROCESS_LIST, TRACE
}
