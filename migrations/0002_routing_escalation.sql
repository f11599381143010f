-- Routing rules, escalation policies, the escalation engine's state, the notification
-- request outbox, silences (and maintenance windows) and heartbeat monitors.

CREATE TABLE alerting.routing_rules (
    id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name        text NOT NULL UNIQUE,
    condition   text NOT NULL,
    actions     jsonb NOT NULL DEFAULT '{}',
    continue    boolean NOT NULL DEFAULT false,
    position    integer NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row: the default route and a counter bumped on every rule change, so each replica
-- reloads its compiled rules only when they changed.
CREATE TABLE alerting.routing_config (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    default_actions  jsonb NOT NULL DEFAULT '{}',
    rules_version    bigint NOT NULL DEFAULT 0
);
INSERT INTO alerting.routing_config DEFAULT VALUES;

CREATE TABLE alerting.escalation_policies (
    id                    text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name                  text NOT NULL UNIQUE,
    description           text NOT NULL DEFAULT '',
    -- [{"delay_seconds": 0, "targets": [{"kind": "user", "id": "u1"}, …]}, …]
    steps                 jsonb NOT NULL,
    repeat                integer NOT NULL DEFAULT 0 CHECK (repeat >= 0),
    repeat_delay_seconds  integer NOT NULL DEFAULT 300 CHECK (repeat_delay_seconds >= 0),
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE alerting.alerts
    ADD COLUMN routed_at             timestamptz,
    ADD COLUMN routing               jsonb,
    ADD COLUMN escalation_policy_id  text,
    ADD COLUMN silenced_by           text;
-- The engine's queue of alerts still to route (tiny: rows leave it within a second).
CREATE INDEX alerts_unrouted ON alerting.alerts (id) WHERE routed_at IS NULL;

CREATE TABLE alerting.escalations (
    alert_id      bigint PRIMARY KEY REFERENCES alerting.alerts (id) ON DELETE CASCADE,
    policy_id     text NOT NULL,
    -- the next step to fire and the pass through the policy it belongs to
    step          integer NOT NULL DEFAULT 0,
    repeat        integer NOT NULL DEFAULT 0,
    next_due_at   timestamptz,
    last_fired_at timestamptz,
    -- active: will fire at next_due_at; held: paused by a silence or maintenance;
    -- stopped: acknowledged or resolved; done: every step and repeat has fired
    state         text NOT NULL CHECK (state IN ('active', 'held', 'stopped', 'done')),
    held_by       text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalations_due ON alerting.escalations (next_due_at) WHERE state = 'active';
CREATE INDEX escalations_held ON alerting.escalations (held_by) WHERE state = 'held';

-- The outbox of notification requests: written in the same transaction as the decision
-- that caused them; the idempotency key makes a repeat of that decision a no-op.
CREATE TABLE alerting.notification_requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    alert_id         bigint NOT NULL REFERENCES alerting.alerts (id) ON DELETE CASCADE,
    policy_id        text,
    step             integer,
    repeat           integer,
    target_kind      text NOT NULL,   -- user | schedule | channel | webhook
    target_id        text NOT NULL,
    user_id          text,            -- who was paged, when the target resolved to a user
    via              text,            -- e.g. 'schedule:db-primary' when resolved through one
    template_id      text,
    context          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_requests_alert ON alerting.notification_requests (alert_id, id);
CREATE INDEX notification_requests_pending ON alerting.notification_requests (id) WHERE status = 'pending';

-- Silences: Alertmanager-style matchers and/or a CEL condition, optionally scoped to an
-- integration or a policy (a scoped silence without matchers is a maintenance window).
CREATE TABLE alerting.silences (
    id              text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    matchers        jsonb NOT NULL DEFAULT '[]',
    condition       text,
    integration_id  bigint REFERENCES alerting.integrations (id) ON DELETE CASCADE,
    policy_id       text,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    created_by      text NOT NULL,
    comment         text NOT NULL DEFAULT '',
    -- set by the engine once it has released what this silence held
    released_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active ON alerting.silences (ends_at) WHERE released_at IS NULL;

CREATE TABLE alerting.heartbeats (
    id               text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name             text NOT NULL UNIQUE,
    integration_id   bigint NOT NULL REFERENCES alerting.integrations (id) ON DELETE CASCADE,
    timeout_seconds  integer NOT NULL CHECK (timeout_seconds > 0),
    last_beat_at     timestamptz,
    expires_at       timestamptz,
    -- pending: never beaten; up: beating; expired: an alert is open for it
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'up', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX heartbeats_expiry ON alerting.heartbeats (expires_at) WHERE state = 'up';
