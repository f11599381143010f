-- Lifecycle listeners' places in the event streams (core/oncall/lifecycle/). One row per
-- (listener, stream): the stream is 'alert_events' (alerting.alert_events) today; incident
-- events will be a second stream with cursors of their own. Only the server holding the
-- listener's advisory lock writes its row.
CREATE SCHEMA IF NOT EXISTS lifecycle;

CREATE TABLE lifecycle.cursors (
    listener       text NOT NULL,
    stream         text NOT NULL,
    -- the last event delivered (or passed over: a kind the listener doesn't hear, an id no
    -- transaction committed, an event skipped after its last attempt)
    last_id        bigint NOT NULL,
    -- the event after last_id while it is failing: how often it failed, the last error and
    -- since when (NULL when the listener is healthy)
    failing_id     bigint,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    failing_since  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (listener, stream)
);

-- Events a listener failed on every attempt, passed over so the ones after them are heard.
CREATE TABLE lifecycle.skipped (
    listener    text NOT NULL,
    stream      text NOT NULL,
    event_id    bigint NOT NULL,
    attempts    integer NOT NULL,
    last_error  text NOT NULL,
    skipped_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (listener, stream, event_id)
);
