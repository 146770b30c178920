/** What watching costs the guest: samples (guest downtime, snapshot age, walk time) per VM and session. */
package dev.periscope.overhead;
