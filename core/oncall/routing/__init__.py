"""Routing: ordered rules, stored in PostgreSQL, evaluated by the configured Router plugin."""
