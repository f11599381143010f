-- Access control: API keys (who may call, with which role) and the audit log (who did what).

CREATE SCHEMA IF NOT EXISTS access;

CREATE TABLE access.api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (name <> ''),
    -- the public part of "oncall_<prefix>_<secret>": finds the row; the secret is only hashed
    prefix        text NOT NULL UNIQUE,
    secret_hash   bytea NOT NULL,
    role          text NOT NULL CHECK (role IN ('viewer', 'responder', 'editor', 'admin')),
    -- NULL: the role holds for every team; else for this team only
    team_id       text,
    -- empty: every permission of the role; else only these (each one of the role's)
    scopes        text[] NOT NULL DEFAULT '{}',
    -- who made it: "cli", or the principal that called ApiKeyService.CreateApiKey
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    -- recorded at most once a minute per key
    last_used_at  timestamptz
);

CREATE TABLE access.audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    principal     text NOT NULL,      -- "api_key:3 (bootstrap)", "proxy:ann" …
    principal_kind text NOT NULL,
    role          text NOT NULL,
    key_id        bigint,
    method        text NOT NULL,      -- the full gRPC method
    resource      text NOT NULL,      -- "policies" or "policies/3"
    -- what the call changed, as the request said it; secrets never
    summary       jsonb NOT NULL DEFAULT '{}',
    -- "OK", or the status code the caller got ("PERMISSION_DENIED", "NOT_FOUND" …)
    outcome       text NOT NULL,
    peer          text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at ON access.audit_events (at);
CREATE INDEX audit_events_principal ON access.audit_events (principal, id);

-- Append-only: a row, once written, is never changed (retention deletes old rows whole).
CREATE FUNCTION access.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access.audit_events is append-only';
END $$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON access.audit_events
    FOR EACH ROW EXECUTE FUNCTION access.audit_events_append_only();
