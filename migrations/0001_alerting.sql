-- The alerting service's schema: integrations, alerts, and each alert's timeline.
CREATE SCHEMA IF NOT EXISTS alerting;

CREATE TABLE alerting.integrations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    source      text NOT NULL,
    -- sha256 of the key; the key itself is shown once, at creation
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, name)
);

CREATE TABLE alerting.alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id    bigint NOT NULL REFERENCES alerting.integrations (id),
    dedup_key         text NOT NULL,
    status            text NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    summary           text NOT NULL,
    details           text NOT NULL DEFAULT '',
    severity          text NOT NULL DEFAULT 'unknown',
    labels            jsonb NOT NULL DEFAULT '{}',
    annotations       jsonb NOT NULL DEFAULT '{}',
    raw               jsonb,
    -- when the source says the problem began (Alertmanager startsAt, PagerDuty timestamp …)
    started_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_received_at  timestamptz NOT NULL DEFAULT now(),
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    resolved_at       timestamptz,
    resolved_by       text,
    duplicate_count   integer NOT NULL DEFAULT 0
);

-- At most one open alert per (integration, dedup key): the database enforces dedup.
CREATE UNIQUE INDEX alerts_one_open_per_key
    ON alerting.alerts (integration_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_labels_gin ON alerting.alerts USING gin (labels jsonb_path_ops);
CREATE INDEX alerts_annotations_gin ON alerting.alerts USING gin (annotations jsonb_path_ops);
CREATE INDEX alerts_created_at ON alerting.alerts (created_at);
CREATE INDEX alerts_open_status ON alerting.alerts (status) WHERE status <> 'resolved';
CREATE INDEX alerts_integration ON alerting.alerts (integration_id, id);

CREATE TABLE alerting.alert_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerting.alerts (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL,
    actor     text,
    note      text,
    data      jsonb
);
CREATE INDEX alert_events_alert ON alerting.alert_events (alert_id, id);

