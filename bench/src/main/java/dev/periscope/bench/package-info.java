/**
 * JMH benchmarks of the engine. Those that need a guest read the RAM of a running lab VM named by the system
 * property {@code periscope.vm} (bench/run.sh starts one); the others build synthetic images.
 */
package dev.periscope.bench;
