-- Teams: integrations, escalation policies, schedules, routing rules, grouping rules and
-- templates may belong to one; a role may be granted for one team only (an API key's
-- team_id, a session's team_roles). A team that something belongs to can't be deleted.

CREATE TABLE access.teams (
    -- the slug that names the team everywhere (ONCALL_OIDC_GROUP_ROLES "ops=editor@payments",
    -- "oncall keys create --team payments", REST paths)
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Keys made for a team before teams were rows: the team is made for them, when its name is
-- a slug; a key naming a team that can't be one is revoked (it could act for no resource).
INSERT INTO access.teams (id, name)
    SELECT DISTINCT team_id, team_id FROM access.api_keys
    WHERE team_id ~ '^[a-z0-9][a-z0-9-]{0,62}$';
UPDATE access.api_keys SET revoked_at = coalesce(revoked_at, now()), team_id = NULL,
                           name = name || ' (team ' || team_id || ')'
    WHERE team_id IS NOT NULL AND team_id !~ '^[a-z0-9][a-z0-9-]{0,62}$';
ALTER TABLE access.api_keys ADD FOREIGN KEY (team_id) REFERENCES access.teams (id);
CREATE INDEX api_keys_team ON access.api_keys (team_id) WHERE team_id IS NOT NULL;

ALTER TABLE alerting.integrations ADD COLUMN team_id text REFERENCES access.teams (id);
ALTER TABLE alerting.escalation_policies ADD COLUMN team_id text REFERENCES access.teams (id);
ALTER TABLE alerting.schedules ADD COLUMN team_id text REFERENCES access.teams (id);
ALTER TABLE alerting.routing_rules ADD COLUMN team_id text REFERENCES access.teams (id);
ALTER TABLE alerting.grouping_rules ADD COLUMN team_id text REFERENCES access.teams (id);
ALTER TABLE notification.templates ADD COLUMN team_id text REFERENCES access.teams (id);
CREATE INDEX integrations_team ON alerting.integrations (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX escalation_policies_team ON alerting.escalation_policies (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX schedules_team ON alerting.schedules (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX routing_rules_team ON alerting.routing_rules (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX grouping_rules_team ON alerting.grouping_rules (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX templates_team ON notification.templates (team_id) WHERE team_id IS NOT NULL;

-- A session's role holds everywhere; team_roles {"payments": "editor"} are higher roles in
-- particular teams. A session that held its role "for these teams only" keeps it there and
-- is a viewer elsewhere, as such a session was treated.
ALTER TABLE access.sessions ADD COLUMN team_roles jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(team_roles) = 'object');
UPDATE access.sessions s
    SET team_roles = (SELECT coalesce(jsonb_object_agg(t, s.role), '{}') FROM unnest(s.team_ids) t),
        role = 'viewer'
    WHERE cardinality(team_ids) > 0;
ALTER TABLE access.sessions DROP COLUMN team_ids;
