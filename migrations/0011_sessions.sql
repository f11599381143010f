-- Browser sessions (the cookie holds a signed session id; only its hash is stored), the
-- OIDC logins waiting for their callback, and the secret the cookies are signed with.

CREATE TABLE access.sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the session id the cookie carries; the id itself is never stored
    id_hash       bytea NOT NULL UNIQUE,
    user_id       text NOT NULL CHECK (user_id <> ''),
    role          text NOT NULL CHECK (role IN ('viewer', 'responder', 'editor', 'admin')),
    -- empty: the role holds for every team; else for these teams only
    team_ids      text[] NOT NULL DEFAULT '{}',
    -- how the person signed in: "oidc" or "password"
    method        text NOT NULL CHECK (method IN ('oidc', 'password')),
    created_at    timestamptz NOT NULL,
    -- written at most once a minute; the idle timeout counts from here
    last_seen_at  timestamptz NOT NULL,
    -- the absolute lifetime's end
    expires_at    timestamptz NOT NULL,
    peer          text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);

CREATE INDEX sessions_user ON access.sessions (user_id);
CREATE INDEX sessions_expires ON access.sessions (expires_at);
CREATE INDEX sessions_last_seen ON access.sessions (last_seen_at);

-- OIDC logins started and not yet finished: taken (deleted) once by their callback.
CREATE TABLE access.pending_logins (
    -- SHA-256 of the login's state parameter
    state_hash    bytea PRIMARY KEY,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    redirect_uri  text NOT NULL,
    return_to     text,
    -- the hash of the browser cookie the login was started with
    binding       text,
    created_at    timestamptz NOT NULL
);

CREATE INDEX pending_logins_created ON access.pending_logins (created_at);

-- The HMAC key session cookies are signed with, made once by the first server that needs
-- it, unless ONCALL_SESSION_SECRET(_FILE) gives one. One row.
CREATE TABLE access.session_secret (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    secret        bytea NOT NULL CHECK (length(secret) >= 32),
    created_at    timestamptz NOT NULL DEFAULT now()
);
