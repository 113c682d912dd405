-- The record's ri= tag (RFC 7489 §6.3: the interval requested between aggregate reports, in
-- seconds), as found with the rest of the record, so that dmarc-reporter can honour it. NULL
-- when no record was found, and in rows written before this migration (read as the default,
-- 86400).
ALTER TABLE spool_rows ADD COLUMN record_ri INTEGER;
