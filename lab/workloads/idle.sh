# idle: only init, the test shell and one sleeping named process.
idle-sleeper &
