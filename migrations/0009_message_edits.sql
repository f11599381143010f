-- Messages a channel edits in place as their incident changes (Slack's chat.update): one
-- row per posted message. A change of the incident makes the row pending, due at once or,
-- when the message was edited (or posted) less than the edit interval ago, at the end of
-- that interval, so a storm of joining alerts makes one edit every few seconds per message.
-- A replica claims due rows with FOR UPDATE SKIP LOCKED: each edit is made by one replica.
-- (Rows go with their delivery; the notification retention prunes both.)
CREATE TABLE notification.message_edits (
    channel      text NOT NULL,
    provider_id  text NOT NULL,
    delivery_id  bigint NOT NULL REFERENCES notification.deliveries (id) ON DELETE CASCADE,
    incident_id  bigint NOT NULL,
    -- the channel's edit interval (seconds) when the row was marked
    interval_s   double precision NOT NULL,
    pending      boolean NOT NULL DEFAULT true,
    due_at       timestamptz NOT NULL,
    edited_at    timestamptz,
    -- what the message shows of its incident (status, counts, who), as of its last edit: a
    -- change that leaves it the same edits nothing
    shown        jsonb,
    claims       integer NOT NULL DEFAULT 0,  -- times taken to edit (an edit that shows nothing new is skipped)
    failures     integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT '',
    PRIMARY KEY (channel, provider_id)
);
CREATE INDEX message_edits_due ON notification.message_edits (due_at) WHERE pending;
CREATE INDEX message_edits_incident ON notification.message_edits (incident_id);
CREATE INDEX message_edits_delivery ON notification.message_edits (delivery_id);
