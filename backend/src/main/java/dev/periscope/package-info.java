/** The Periscope server application; features live in sub-packages (vm, process, system, cli). */
package dev.periscope;
