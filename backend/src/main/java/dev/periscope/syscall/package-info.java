/** The bounded syscall archive: decoded syscall records of trace sessions, kept within row and age limits. */
package dev.periscope.syscall;
