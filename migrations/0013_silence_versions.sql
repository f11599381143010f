-- Silences carry a version (issue 14 item 6, no lost updates), raised by every change a
-- person makes to one (expiring it; the engine's release bookkeeping is no such change), so
-- that ExpireSilence's expected_version refuses a change made from a stale read.
ALTER TABLE alerting.silences ADD COLUMN version integer NOT NULL DEFAULT 1;
