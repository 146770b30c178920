# paper: the monitored paper-shell session plus unrelated busy processes.
busy-writer &
busy-pipe &
busy-proc &
paper-shell > /dev/console 2>&1 &
