/**
 * The command-line client: the server jar run with a command talks to a running server over REST ({@code ps}: a
 * process list; {@code trace}: a trace session's syscalls as strace-like lines or NDJSON).
 */
package dev.periscope.cli;
