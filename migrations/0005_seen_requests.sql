-- Inbound requests already acted on (a channel's signed callback, keyed by what the channel
-- chooses, such as Slack's request signature), so a captured request replayed at any replica
-- or after a restart is refused. Only a SHA-256 of the key is kept; a row is needed only
-- until expires_at (a reused key past it counts as new), and the notifier prunes the rest.
CREATE TABLE notification.seen_requests (
    key_hash    bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX seen_requests_expiry ON notification.seen_requests (expires_at);
