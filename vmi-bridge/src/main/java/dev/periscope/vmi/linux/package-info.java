/**
 * The Linux model: a zero-configuration profile of a Linux guest derived from its own memory (banner, kallsyms,
 * BTF, KASLR) and the process list read through it, with the names the guest's /proc shows (kernel thread full
 * names, workqueue worker descriptions), threads on request, and a cross-check of the task list against the PID
 * table that finds processes a rootkit unlinked. Guest data is hostile: every walk is bounded, every pointer
 * checked, and corruption yields partial results with warnings or a typed exception.
 */
package dev.periscope.vmi.linux;
