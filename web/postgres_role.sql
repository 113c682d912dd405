-- dmarc-web's PostgreSQL role (web/README.md, "PostgreSQL"): reads every table of the store and
-- changes only what the dashboard changes (suppressions; a report's deliveries on resend).
-- Run as the owner of the store (the role dmarc-collector connects as), after the collector has
-- created the schema, then give the role a password (\password dmarc_web) or a pg_hba.conf rule.
-- Tables a later migration adds (store_0006's web_user_domains, read for scoped users) are
-- readable through the default privileges; on an install made before this line existed, rerun
-- the SELECT grant after upgrading. Web users are added by the owner:
-- `dmarc-web user add ... --store postgresql://OWNER@HOST/DB` (it applies migrations).
CREATE ROLE dmarc_web LOGIN;
GRANT USAGE ON SCHEMA public TO dmarc_web;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO dmarc_web;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO dmarc_web;
GRANT INSERT, UPDATE, DELETE ON suppressions TO dmarc_web;
GRANT USAGE ON SEQUENCE suppressions_id_seq TO dmarc_web;
GRANT UPDATE (status, next_retry, attempts, parts_sent) ON report_deliveries TO dmarc_web;
