-- The circuit breaker gets its states (notification/worker.py): closed → open (paused until
-- open_until) → half_open (one probe delivery, probe_id, is out; the rest wait until
-- open_until, the probe's deadline) → closed on success, or open again for twice as long.
-- pauses: how many pauses in a row, so the next one's length; generation: bumped each time
-- the circuit opens, so answers to sends claimed before that are not counted again.
ALTER TABLE notification.circuits
    ADD COLUMN state       text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    ADD COLUMN pauses      integer NOT NULL DEFAULT 0,
    ADD COLUMN generation  bigint NOT NULL DEFAULT 0,
    ADD COLUMN probe_id    bigint;

-- a pause set by the old code ends with a probe, like a new one
UPDATE notification.circuits SET state = 'open', pauses = 1, failures = 0 WHERE open_until IS NOT NULL;
