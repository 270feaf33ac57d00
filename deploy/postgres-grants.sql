-- What the nodes and the auditors may do (docs/deploy.md, "Database roles"). Run in database
-- cordon, as cordon_owner or a superuser, once the schema exists (after the first
-- `cordon keys create --database` with the owner's URL), and again after an upgrade:
--
--   psql -d cordon -f deploy/postgres-grants.sql

-- The audit log, the seals of its groups and components: appended, never changed.
GRANT SELECT, INSERT ON links, checkpoints, seals, blobs TO cordon_app;
-- Only with retention_days: retention deletes the oldest links (up to a checkpoint).
-- GRANT DELETE ON links, checkpoints, seals TO cordon_app;

-- The registry, quarantine marks, keys and the log's own settings.
GRANT SELECT, INSERT, UPDATE, DELETE ON tools, quarantine TO cordon_app;
GRANT SELECT, INSERT, UPDATE ON api_keys, cordon_meta TO cordon_app;
GRANT USAGE ON SEQUENCE tools_seq_seq TO cordon_app;
-- The decisions bundles applied (docs/decisions.md): appended, never changed.
GRANT SELECT, INSERT ON decisions TO cordon_app;
GRANT USAGE ON SEQUENCE decisions_seq_seq TO cordon_app;
-- Calls held for a person's approval, until they are decided (and a while after).
GRANT SELECT, INSERT, UPDATE, DELETE ON approvals TO cordon_app;
-- Quota counters and the leases of running executions (docs/identity.md).
GRANT SELECT, INSERT, UPDATE, DELETE ON quota_use, quota_leases TO cordon_app;
-- Running and recently finished calls, and the nodes' reports of themselves.
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, nodes TO cordon_app;
-- Alerts and their deliveries (kept), the detection rules' counts and callers' suspensions
-- (docs/detection.md).
GRANT SELECT, INSERT, UPDATE ON alerts, alert_deliveries TO cordon_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON detect_signals, suspensions TO cordon_app;

-- Auditors verify the log (`cordon audit verify --database`) and read nothing else.
GRANT SELECT ON links, checkpoints, seals, cordon_meta TO cordon_auditor;
