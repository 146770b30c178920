-- Why a session ended, as a type (SessionEnd): clients decide on it, end_reason stays the text for people.
ALTER TABLE vmi_session ADD COLUMN end_cause VARCHAR(20);
