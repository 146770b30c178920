-- The fleet: a VM is named NAME@HOST (its agent's host), everywhere a VM is stored. VMs recorded before the fleet
-- were the embedded server's, whose agent's host is "local".
UPDATE vm_owner SET vm_name = vm_name || '@local' WHERE vm_name NOT LIKE '%@%';
UPDATE vmi_session SET vm_name = vm_name || '@local' WHERE vm_name NOT LIKE '%@%';
UPDATE introspection_request SET vm_name = vm_name || '@local' WHERE vm_name NOT LIKE '%@%';
UPDATE overhead_sample SET vm_name = vm_name || '@local' WHERE vm_name NOT LIKE '%@%';
UPDATE syscall_event SET vm_name = vm_name || '@local' WHERE vm_name NOT LIKE '%@%';
UPDATE kernel_profile SET first_vm = first_vm || '@local' WHERE first_vm NOT LIKE '%@%';

-- Sessions run on their VM's agent; one control-plane replica (the runner) follows each and renews its claim every
-- lease; another replica takes a session over when the claim goes stale. last_seq is the newest message of the
-- agent's stream the runner has handled: a resumed session continues after it.
ALTER TABLE vmi_session ADD COLUMN runner VARCHAR(64);
ALTER TABLE vmi_session ADD COLUMN runner_seen TIMESTAMP WITH TIME ZONE;
ALTER TABLE vmi_session ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX vmi_session_runner ON vmi_session (state, runner);

-- NAME@HOST: up to 128 + 1 + 63 characters.
ALTER TABLE vm_owner ALTER COLUMN vm_name SET DATA TYPE VARCHAR(200);
ALTER TABLE vmi_session ALTER COLUMN vm_name SET DATA TYPE VARCHAR(200);
ALTER TABLE introspection_request ALTER COLUMN vm_name SET DATA TYPE VARCHAR(200);
ALTER TABLE overhead_sample ALTER COLUMN vm_name SET DATA TYPE VARCHAR(200);
ALTER TABLE syscall_event ALTER COLUMN vm_name SET DATA TYPE VARCHAR(200);
ALTER TABLE kernel_profile ALTER COLUMN first_vm SET DATA TYPE VARCHAR(200);
