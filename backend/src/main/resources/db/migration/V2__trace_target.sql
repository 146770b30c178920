-- Trace sessions name their target by pid or by process name, and may trace a subset of syscalls.
ALTER TABLE vmi_session ADD COLUMN target_name VARCHAR(64);
ALTER TABLE vmi_session ADD COLUMN syscalls VARCHAR(2200);
