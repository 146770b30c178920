/**
 * The Linux model: a zero-configuration profile of a Linux guest derived from its own memory (banner, kallsyms,
 * BTF, KASLR) and the process list read through it. Guest data is hostile: every walk is bounded, every pointer
 * checked, and corruption yields partial results with warnings.
 */
package dev.periscope.vmi.linux;
