/**
 * The bounded syscall archive: the syscalls of trace sessions (raw argument registers, how each call ended with its
 * return value, errno and duration, and its decoded strace-like line), kept within row and age limits.
 */
package dev.periscope.syscall;
