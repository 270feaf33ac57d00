-- The database and the three roles cordon needs (docs/deploy.md, "Database roles"). Run once,
-- as a PostgreSQL superuser, with the passwords as psql variables:
--
--   psql -v owner_password=... -v app_password=... -v auditor_password=... \
--        -f deploy/postgres-roles.sql
--
-- cordon_owner owns the schema and is used only to create or upgrade it (the first
-- `cordon keys create --database`, and the first start of each new release); the nodes run as
-- cordon_app; auditors read the log as cordon_auditor.

CREATE ROLE cordon_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE cordon_app LOGIN PASSWORD :'app_password';
CREATE ROLE cordon_auditor LOGIN PASSWORD :'auditor_password';
CREATE DATABASE cordon OWNER cordon_owner;
REVOKE ALL ON DATABASE cordon FROM PUBLIC;
GRANT CONNECT ON DATABASE cordon TO cordon_app, cordon_auditor;

\connect cordon
-- Only the owner creates anything; the others may use what it made, as granted after.
ALTER SCHEMA public OWNER TO cordon_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cordon_app, cordon_auditor;
