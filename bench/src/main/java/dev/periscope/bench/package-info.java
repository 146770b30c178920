/**
 * JMH benchmarks of the engine and end-to-end mains. Those that need a guest read the RAM of a running lab VM named
 * by the system property {@code periscope.vm} (bench/run.sh starts one); the others build synthetic images. The
 * monitoring experiment ({@link dev.periscope.bench.OverheadExperiment}, reported by {@code OverheadReport} beside
 * the DAIS 2020 paper's Table 1) and the Xen mains run against lab or Xen lab guests.
 */
package dev.periscope.bench;
