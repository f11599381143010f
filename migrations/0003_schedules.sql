-- On-call schedules: a schedule row holds its definition (time zone, layers as JSONB);
-- overrides, temporary schedules and calendar-feed tokens are rows of their own.
-- Every change to what decides who is on call bumps schedules.version in the same
-- transaction, so a process's cache of built schedules, keyed by (id, version), knows with
-- one primary-key read whether what it holds is current.

CREATE TABLE alerting.schedules (
    id           text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name         text NOT NULL UNIQUE,
    -- an IANA name (Europe/Berlin); handoffs and restriction windows are wall-clock times there
    time_zone    text NOT NULL,
    description  text NOT NULL DEFAULT '',
    -- bottom to top: [{"name": "primary", "participants": ["alice", "bob"],
    --   "shift_length": {"count": 1, "unit": "week"}, "handoff": "09:00:00",
    --   "start": "2026-01-05T08:00:00+00:00",
    --   "restrictions": [{"start_day": 0, "start_time": "09:00:00", "end_day": 0, "end_time": "17:00:00"}]}]
    -- (days are 0 = Monday … 6 = Sunday)
    layers       jsonb NOT NULL DEFAULT '[]',
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerting.schedule_overrides (
    id           text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    schedule_id  text NOT NULL REFERENCES alerting.schedules (id) ON DELETE CASCADE,
    -- creation order: overrides active at the same moment apply in this order
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    -- add: add_user only; remove: remove_user only; replace: both
    add_user     text,
    remove_user  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (add_user IS NOT NULL OR remove_user IS NOT NULL)
);
CREATE INDEX schedule_overrides_schedule ON alerting.schedule_overrides (schedule_id, seq);

-- Temporary schedules replace a schedule's layers and overrides for their window. They
-- must not overlap one another; the store checks that under the schedule's row lock.
CREATE TABLE alerting.schedule_temporaries (
    id           text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    schedule_id  text NOT NULL REFERENCES alerting.schedules (id) ON DELETE CASCADE,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    -- [{"start": "2026-03-01T08:00:00+00:00", "end": "…", "users": ["alice", "bob"]}]
    shifts       jsonb NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX schedule_temporaries_schedule ON alerting.schedule_temporaries (schedule_id, starts_at);

-- Secret tokens of the iCal feeds. A token with a user_id serves only that user's shifts.
CREATE TABLE alerting.schedule_calendar_tokens (
    id            text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    schedule_id   text NOT NULL REFERENCES alerting.schedules (id) ON DELETE CASCADE,
    user_id       text,
    -- sha256 of the token; the token itself is shown once, at creation
    token_hash    bytea NOT NULL UNIQUE,
    token_prefix  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedule_calendar_tokens_schedule ON alerting.schedule_calendar_tokens (schedule_id, created_at);
