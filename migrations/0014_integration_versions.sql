-- Integrations get a version, so that an update made from a stale read is refused
-- (IntegrationService.UpdateIntegration's expected_version) instead of losing another's edit.
ALTER TABLE alerting.integrations ADD COLUMN version integer NOT NULL DEFAULT 1;
