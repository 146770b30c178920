-- Syscall results in the archive: how each call ended (RETURNED, UNFINISHED, NO_RETURN, NOT_TRACED), its return
-- value, errno name and duration when it returned, and the decoded strace-like line. Rows archived before this
-- version have none of them (NULL).
ALTER TABLE syscall_event ADD COLUMN status VARCHAR(12);
ALTER TABLE syscall_event ADD COLUMN return_value BIGINT;
ALTER TABLE syscall_event ADD COLUMN errno VARCHAR(32);
ALTER TABLE syscall_event ADD COLUMN duration_ns BIGINT;
ALTER TABLE syscall_event ADD COLUMN call_text VARCHAR(2048);
