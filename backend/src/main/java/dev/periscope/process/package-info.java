/** Guest process lists: read by the engine from guest memory, served as JSON and as the VM page. */
package dev.periscope.process;
