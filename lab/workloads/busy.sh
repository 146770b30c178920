# busy: several gentle, long-lived named processes doing file, pipe and /proc work.
busy-writer &
busy-pipe &
busy-proc &
idle-sleeper &
