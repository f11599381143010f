"""The PostgreSQL store: connection pool, embedded server, migrations."""
