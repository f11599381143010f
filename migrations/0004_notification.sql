-- The notification service's schema: templates and their immutable versions, notifications,
-- the delivery outbox with every attempt, rate-limit buckets, circuit breakers, and what
-- two-way channels need (one-click action tokens, SMS reply codes, opt-outs).
CREATE SCHEMA IF NOT EXISTS notification;

CREATE TABLE notification.templates (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    current_version  integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);

-- Every save is a new row; a row is never updated, so a notification can always show
-- exactly what it was rendered from.
CREATE TABLE notification.template_versions (
    template_id  text NOT NULL REFERENCES notification.templates (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    channels     jsonb NOT NULL,           -- {"slack": {"body": "..."}, "email": {"subject": ...}}
    sample       jsonb,                    -- the sample context it was validated against
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE TABLE notification.notifications (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the engine's request this came from (alerting.notification_requests.id), or a caller's key
    idempotency_key   text NOT NULL UNIQUE,
    template_id       text,                -- null: the built-in defaults
    template_version  integer,
    context           jsonb NOT NULL,
    alert_id          bigint,
    request_id        bigint,
    created_by        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_alert ON notification.notifications (alert_id) WHERE alert_id IS NOT NULL;

-- The outbox: one row per (notification, destination). A row is claimed by moving it to
-- 'sending' under the claiming worker's id; a worker holds an advisory lock on its id for
-- its lifetime, so a 'sending' row whose worker's lock is free belongs to a dead process
-- and goes back to 'retrying' (the one send that may repeat, with the same idempotency key).
CREATE TABLE notification.deliveries (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id    bigint NOT NULL REFERENCES notification.notifications (id) ON DELETE CASCADE,
    idempotency_key    text NOT NULL UNIQUE,
    channel            text NOT NULL,
    destination        text NOT NULL,
    user_id            text,
    contact_method_id  text,
    alert_id           bigint,
    status             text NOT NULL DEFAULT 'queued' CHECK (status IN
                           ('queued', 'sending', 'sent', 'delivered', 'failed', 'retrying', 'cancelled')),
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    claimed_by         integer,
    provider_id        text,
    payload            jsonb,              -- what the channel was given, as rendered
    reply_code         text,
    bundled_into       bigint REFERENCES notification.deliveries (id) ON DELETE SET NULL,
    bundle_size        integer NOT NULL DEFAULT 1,
    last_error         text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    delivered_at       timestamptz
);
CREATE INDEX deliveries_due ON notification.deliveries (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX deliveries_sending ON notification.deliveries (claimed_by) WHERE status = 'sending';
CREATE INDEX deliveries_notification ON notification.deliveries (notification_id, id);
CREATE INDEX deliveries_alert ON notification.deliveries (alert_id, channel) WHERE alert_id IS NOT NULL;
CREATE INDEX deliveries_provider ON notification.deliveries (channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_destination ON notification.deliveries (channel, destination, id);

CREATE TABLE notification.attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES notification.deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    -- sent | delivered | retrying | failed | interrupted (the process died mid-send) | report (a provider callback)
    outcome      text NOT NULL,
    response     text NOT NULL DEFAULT '',
    retry_after  double precision,
    worker       integer
);
CREATE INDEX attempts_delivery ON notification.attempts (delivery_id, id);

-- Token buckets shared by every replica: 'channel:<name>' and '<channel>:<destination>'.
CREATE TABLE notification.rate_buckets (
    key         text PRIMARY KEY,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- A channel that keeps failing is paused until open_until instead of hammered.
CREATE TABLE notification.circuits (
    channel     text PRIMARY KEY,
    failures    integer NOT NULL DEFAULT 0,
    open_until  timestamptz
);

-- One-click links (email, Teams, push): the token is shown once, in the link; only its hash is kept.
CREATE TABLE notification.action_tokens (
    token_hash   bytea PRIMARY KEY,
    alert_id     bigint NOT NULL,
    action       text NOT NULL CHECK (action IN ('acknowledge', 'resolve', 'escalate')),
    user_id      text,
    channel      text NOT NULL,
    delivery_id  bigint,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX action_tokens_expiry ON notification.action_tokens (expires_at);

-- SMS reply codes: '3' names an alert for one phone number ("3a" acknowledges it).
CREATE TABLE notification.reply_codes (
    channel      text NOT NULL,
    destination  text NOT NULL,
    code         integer NOT NULL,
    alert_id     bigint NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, destination, code)
);
CREATE UNIQUE INDEX reply_codes_alert ON notification.reply_codes (channel, destination, alert_id);

CREATE TABLE notification.opt_outs (
    channel      text NOT NULL,
    destination  text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, destination)
);
