"""The alerting service: integrations, ingestion with dedup, alert state and timeline."""
