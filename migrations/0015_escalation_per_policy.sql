-- An incident escalates through every policy its alerts route to: one escalation per
-- (incident, policy). An alert that joins an incident and routes to a policy the incident
-- is not escalating through starts that policy for the incident; one routing to a policy
-- already escalating pages no one twice.
ALTER TABLE alerting.escalations
    DROP CONSTRAINT escalations_pkey,
    ADD PRIMARY KEY (incident_id, policy_id);
