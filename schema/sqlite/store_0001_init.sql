-- The store (design.md §7): normalised per-message history from every MX host, the policy records
-- seen, the outgoing report ledger and suppressions. Timestamps are UTC epoch seconds; domains
-- are lower-case A-labels. Enumerations are stored as the lower-case tokens of core/types.hpp.
CREATE TABLE schema_version (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE reporters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE ip_addresses (
    id INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE
);

-- Absent sp/np are '' (not NULL) so that UNIQUE treats two equal records as one.
CREATE TABLE policy_records (
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
    UNIQUE (domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua)
);

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    policy_domain_id INTEGER NOT NULL REFERENCES domains(id),
    period_begin INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    report_id TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL CHECK (format IN ('rfc7489', 'rfc9990')),
    created INTEGER NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    record_count INTEGER NOT NULL DEFAULT 0,
    compression TEXT NOT NULL DEFAULT 'gzip' CHECK (compression IN ('gzip', 'zip')),
    archive BLOB,
    UNIQUE (policy_domain_id, period_begin, format)
);
CREATE INDEX reports_domain_period_end ON reports (policy_domain_id, period_end);

CREATE TABLE report_deliveries (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'temp_failed',
        'perm_failed', 'suppressed', 'unauthorised', 'ignored')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt INTEGER,
    next_retry INTEGER,
    smtp_reply TEXT NOT NULL DEFAULT '',
    sent_at INTEGER,
    UNIQUE (report_id, address)
);
CREATE INDEX report_deliveries_due ON report_deliveries (status, next_retry);

CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY,
    pattern TEXT NOT NULL UNIQUE,
    comment TEXT NOT NULL DEFAULT '',
    added INTEGER NOT NULL,
    expires INTEGER
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    reporter_id INTEGER NOT NULL REFERENCES reporters(id),
    job_id TEXT NOT NULL,
    received INTEGER NOT NULL,
    ip_id INTEGER NOT NULL REFERENCES ip_addresses(id),
    helo TEXT NOT NULL DEFAULT '',
    mail_from TEXT NOT NULL DEFAULT '',
    env_domain_id INTEGER REFERENCES domains(id),
    rcpt_to TEXT NOT NULL DEFAULT '',
    header_from_domain_id INTEGER NOT NULL REFERENCES domains(id),
    policy_domain_id INTEGER REFERENCES domains(id),
    policy_record_id INTEGER REFERENCES policy_records(id),
    discovery_method TEXT,
    spf_result TEXT NOT NULL,
    spf_domain_id INTEGER REFERENCES domains(id),
    spf_scope TEXT NOT NULL,
    dkim_count INTEGER NOT NULL DEFAULT 0,
    arc_result TEXT NOT NULL DEFAULT 'none',
    arc_policy TEXT NOT NULL DEFAULT '',
    dkim_aligned INTEGER NOT NULL,
    spf_aligned INTEGER NOT NULL,
    dmarc_result TEXT NOT NULL,
    policy_applied TEXT,
    disposition TEXT NOT NULL,
    override_reasons TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    is_report INTEGER NOT NULL DEFAULT 0,
    origin TEXT NOT NULL CHECK (origin IN ('spool', 'history')),
    report_id INTEGER REFERENCES reports(id) ON DELETE SET NULL,
    -- The deduplication key, time first: imports arrive in time order, so new keys land at the
    -- right edge of the index instead of at random places (MTA queue ids are random), and the
    -- index also serves every time-range scan (expiry, periods, the dashboard).
    UNIQUE (received, reporter_id, job_id)
);
CREATE INDEX messages_policy_domain ON messages (policy_domain_id, received);
-- No (header_from_domain_id, received) or (ip_id, received) index here, unlike PostgreSQL: each
-- costs about 15% of the import rate, and the dashboard's filters are bounded in time, so they
-- scan the (received, ...) key. Edited in place (not a new migration): no store exists in the
-- field yet (the time-first key replaced a separate messages_received index the same way).
-- Partial: messages are imported unreported, so the import does not touch this index.
CREATE INDEX messages_report ON messages (report_id) WHERE report_id IS NOT NULL;

CREATE TABLE dkim_results (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    selector TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

CREATE TABLE import_sources (
    source TEXT PRIMARY KEY,
    watermark INTEGER NOT NULL
);
