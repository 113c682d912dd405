-- The record's ri= tag (RFC 7489 §6.3, seconds requested between aggregate reports; 86400 when
-- not published, and for every record known before this migration or imported from OpenDMARC
-- history files, which do not record it). dmarc-reporter's period length per domain follows it.
-- ri is part of what makes a record distinct, so the UNIQUE key changes: SQLite cannot alter a
-- table constraint, hence the documented rebuild (create, copy with the same ids, drop, rename;
-- the migration runner switches foreign-key enforcement off around it and checks the keys
-- before committing). messages.policy_record_id keeps pointing at the same ids.
CREATE TABLE policy_records_0005 (
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    p TEXT NOT NULL,
    sp TEXT NOT NULL,
    np TEXT NOT NULL,
    adkim TEXT NOT NULL,
    aspf TEXT NOT NULL,
    pct INTEGER NOT NULL,
    testing INTEGER NOT NULL,
    fo TEXT NOT NULL,
    rua TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    ri INTEGER NOT NULL DEFAULT 86400,
    UNIQUE (domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, ri)
);
INSERT INTO policy_records_0005(id, domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua,
                                first_seen, last_seen)
    SELECT id, domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, first_seen, last_seen
    FROM policy_records;
DROP TABLE policy_records;
ALTER TABLE policy_records_0005 RENAME TO policy_records;
