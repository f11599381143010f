"""Escalation: policies, the durable engine, silences and maintenance, heartbeat monitors."""
