/**
 * Guest process lists: read by the VM's agent from guest memory in the mode asked for (or the most consistent one the
 * VM's platform offers), served as JSON and as the VM page, each read audited.
 */
package dev.periscope.process;
