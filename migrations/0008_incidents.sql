-- Incidents: the unit that escalates, pages, is acknowledged and is shown. Every alert
-- belongs to exactly one incident; with no grouping rule each alert opens its own. Grouping
-- rules (ordered, like routing rules) put related alerts into one incident by a key.

CREATE TABLE alerting.grouping_rules (
    id                   text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name                 text NOT NULL UNIQUE,
    condition            text NOT NULL,
    -- a CEL expression giving a string or a list (canonical text: the list's JSON)
    key                  text NOT NULL,
    -- NULL: alerts of every integration; else only this integration's
    integration_id       bigint REFERENCES alerting.integrations (id) ON DELETE CASCADE,
    -- alerts join only within window_seconds of the incident's first alert, or within
    -- idle_seconds of its last one; neither: until the incident is resolved
    window_seconds       integer CHECK (window_seconds > 0),
    idle_seconds         integer CHECK (idle_seconds > 0),
    resolve_on           text NOT NULL DEFAULT 'all' CHECK (resolve_on IN ('all', 'first', 'manual')),
    title_template       text NOT NULL DEFAULT '',
    repage_on_new_alert  boolean NOT NULL DEFAULT false,
    position             integer NOT NULL,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (window_seconds IS NULL OR idle_seconds IS NULL)
);

-- Bumped on every grouping rule change, so each replica reloads its rules only when they changed.
ALTER TABLE alerting.routing_config ADD COLUMN grouping_version bigint NOT NULL DEFAULT 0;

CREATE SEQUENCE alerting.incident_ids;

-- How grave a severity is, for "the incident's severity is its gravest alert's".
CREATE FUNCTION alerting.severity_rank(severity text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN
    CASE severity WHEN 'critical' THEN 4 WHEN 'error' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END;

CREATE TABLE alerting.incidents (
    id                   bigint PRIMARY KEY DEFAULT nextval('alerting.incident_ids'),
    -- the grouping rule that made it (NULL: an alert's own incident), its scope ('all' or
    -- 'integration:<id>') and the key the rule gave
    rule_id              text,
    scope                text,
    group_key            text,
    -- group_key while alerts may still join; NULL once closed to new alerts (window over,
    -- resolved, merged away). The unique index below makes "join or open" race-proof.
    join_key             text,
    joinable_until       timestamptz,
    window_seconds       integer,
    idle_seconds         integer,
    resolve_on           text NOT NULL DEFAULT 'all' CHECK (resolve_on IN ('all', 'first', 'manual')),
    repage_on_new_alert  boolean NOT NULL DEFAULT false,
    status               text NOT NULL DEFAULT 'triggered'
                             CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    -- the status before the last change of this row: statements compare it with status to
    -- tell which incidents they just moved (PostgreSQL 15 has no RETURNING OLD)
    prev_status          text,
    title                text NOT NULL DEFAULT '',
    severity             text NOT NULL DEFAULT 'unknown',
    integration_id       bigint NOT NULL REFERENCES alerting.integrations (id),
    first_alert_id       bigint NOT NULL,
    -- counters kept by every statement that adds, moves or changes the status of its alerts
    alert_count          integer NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    open_alerts          integer NOT NULL DEFAULT 0 CHECK (open_alerts >= 0),
    triggered_alerts     integer NOT NULL DEFAULT 0 CHECK (triggered_alerts >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_alert_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at      timestamptz,
    acknowledged_by      text,
    resolved_at          timestamptz,
    resolved_by          text,
    -- set by the routing pass from the decision for the incident's first routed alert
    routed_at            timestamptz,
    routing              jsonb,
    escalation_policy_id text,
    merged_into          bigint REFERENCES alerting.incidents (id)
);
CREATE UNIQUE INDEX incidents_one_joinable_per_key
    ON alerting.incidents (rule_id, scope, join_key) WHERE join_key IS NOT NULL;
CREATE INDEX incidents_open_status ON alerting.incidents (status) WHERE status <> 'resolved';
CREATE INDEX incidents_created_at ON alerting.incidents (created_at);
CREATE INDEX incidents_integration ON alerting.incidents (integration_id, id);
ALTER SEQUENCE alerting.incident_ids OWNED BY alerting.incidents.id;

CREATE TABLE alerting.incident_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES alerting.incidents (id) ON DELETE CASCADE,
    alert_id     bigint,
    at           timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL,
    actor        text,
    note         text,
    data         jsonb
);
CREATE INDEX incident_events_incident ON alerting.incident_events (incident_id, id);

-- Existing alerts: each its own incident, numbered like the alert.
INSERT INTO alerting.incidents
    (id, status, prev_status, title, severity, integration_id, first_alert_id, alert_count,
     open_alerts, triggered_alerts, created_at, last_alert_at, acknowledged_at, acknowledged_by,
     resolved_at, resolved_by, routed_at, routing, escalation_policy_id)
SELECT id, status, status, summary, severity, integration_id, id, 1,
       (status <> 'resolved')::int, (status = 'triggered')::int, created_at, created_at,
       acknowledged_at, acknowledged_by, resolved_at, resolved_by, routed_at, routing,
       escalation_policy_id
FROM alerting.alerts;
SELECT setval('alerting.incident_ids', greatest((SELECT max(id) FROM alerting.alerts), 1));

-- The alert's incident. A new alert draws an incident id from the sequence as it is
-- inserted and the same statement inserts that incident (or joins one): the reference is
-- checked at commit, once both rows exist.
ALTER TABLE alerting.alerts ADD COLUMN incident_id bigint;
UPDATE alerting.alerts SET incident_id = id;
ALTER TABLE alerting.alerts
    ALTER COLUMN incident_id SET DEFAULT nextval('alerting.incident_ids'),
    ALTER COLUMN incident_id SET NOT NULL,
    ADD CONSTRAINT alerts_incident_fk FOREIGN KEY (incident_id) REFERENCES alerting.incidents (id)
        DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX alerts_incident ON alerting.alerts (incident_id, id);

-- Escalation runs per incident. alert_id stays: the alert the escalation pages about (the
-- incident's first); generation counts restarts (a re-page), so their requests are new.
ALTER TABLE alerting.escalations ADD COLUMN incident_id bigint, ADD COLUMN generation integer NOT NULL DEFAULT 0;
UPDATE alerting.escalations SET incident_id = alert_id;
ALTER TABLE alerting.escalations
    ALTER COLUMN incident_id SET NOT NULL,
    DROP CONSTRAINT escalations_pkey,
    ADD PRIMARY KEY (incident_id),
    ADD CONSTRAINT escalations_incident_fk FOREIGN KEY (incident_id) REFERENCES alerting.incidents (id)
        ON DELETE CASCADE;

ALTER TABLE alerting.notification_requests ADD COLUMN incident_id bigint;
UPDATE alerting.notification_requests SET incident_id = alert_id;
CREATE INDEX notification_requests_incident ON alerting.notification_requests (incident_id, id);

ALTER TABLE notification.notifications ADD COLUMN incident_id bigint;
UPDATE notification.notifications SET incident_id = alert_id;
CREATE INDEX notifications_incident ON notification.notifications (incident_id) WHERE incident_id IS NOT NULL;
