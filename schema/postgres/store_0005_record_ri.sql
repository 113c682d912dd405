-- The record's ri= tag (RFC 7489 §6.3, seconds requested between aggregate reports; 86400 when
-- not published, and for every record known before this migration or imported from OpenDMARC
-- history files, which do not record it). dmarc-reporter's period length per domain follows it.
-- ri is part of what makes a record distinct, so the UNIQUE key gains it (the old constraint's
-- generated name is looked up rather than spelled, as PostgreSQL truncates it).
ALTER TABLE policy_records ADD COLUMN ri BIGINT NOT NULL DEFAULT 86400;
DO $$
DECLARE
    old_key TEXT;
BEGIN
    SELECT conname INTO old_key FROM pg_constraint
        WHERE conrelid = 'policy_records'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE policy_records DROP CONSTRAINT %I', old_key);
END
$$;
ALTER TABLE policy_records ADD CONSTRAINT policy_records_key
    UNIQUE (domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, ri);
