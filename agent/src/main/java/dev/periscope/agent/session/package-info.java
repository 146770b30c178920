/**
 * Sessions that run on the agent under the control plane's ids: process-bound traces and periodic process lists.
 * Their messages are numbered, the newest kept for resuming subscribers, and fanned out to every subscriber (any
 * control-plane replica) through bounded per-subscriber queues with drop markers; gRPC's flow control tells when a
 * subscriber can take more, and what waited for it goes out in one batch (or one by one, to control planes of
 * earlier releases). Nothing here ever makes the engine's ring thread wait. A session nobody subscribes to
 * ends after the orphan timeout.
 */
package dev.periscope.agent.session;
