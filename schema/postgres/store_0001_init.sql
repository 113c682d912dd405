-- The store (design.md §7): normalised per-message history from every MX host, the policy records
-- seen, the outgoing report ledger and suppressions. Timestamps are UTC epoch seconds; domains
-- are lower-case A-labels. Enumerations are stored as the lower-case tokens of core/types.hpp.
CREATE TABLE schema_version (
    component TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE TABLE domains (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE reporters (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE ip_addresses (
    id BIGSERIAL PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE
);

-- Absent sp/np are '' (not NULL) so that UNIQUE treats two equal records as one.
CREATE TABLE policy_records (
    id BIGSERIAL PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    p TEXT NOT NULL,
    sp TEXT NOT NULL,
    np TEXT NOT NULL,
    adkim TEXT NOT NULL,
    aspf TEXT NOT NULL,
    pct BIGINT NOT NULL,
    testing BIGINT NOT NULL,
    fo TEXT NOT NULL,
    rua TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    UNIQUE (domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua)
);

CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    policy_domain_id BIGINT NOT NULL REFERENCES domains(id),
    period_begin BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    report_id TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL CHECK (format IN ('rfc7489', 'rfc9990')),
    created BIGINT NOT NULL,
    message_count BIGINT NOT NULL DEFAULT 0,
    record_count BIGINT NOT NULL DEFAULT 0,
    compression TEXT NOT NULL DEFAULT 'gzip' CHECK (compression IN ('gzip', 'zip')),
    archive BYTEA,
    UNIQUE (policy_domain_id, period_begin, format)
);
CREATE INDEX reports_domain_period_end ON reports (policy_domain_id, period_end);

CREATE TABLE report_deliveries (
    id BIGSERIAL PRIMARY KEY,
    report_id BIGINT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'temp_failed',
        'perm_failed', 'suppressed', 'unauthorised', 'ignored')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_attempt BIGINT,
    next_retry BIGINT,
    smtp_reply TEXT NOT NULL DEFAULT '',
    sent_at BIGINT,
    UNIQUE (report_id, address)
);
CREATE INDEX report_deliveries_due ON report_deliveries (status, next_retry);

CREATE TABLE suppressions (
    id BIGSERIAL PRIMARY KEY,
    pattern TEXT NOT NULL UNIQUE,
    comment TEXT NOT NULL DEFAULT '',
    added BIGINT NOT NULL,
    expires BIGINT
);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    reporter_id BIGINT NOT NULL REFERENCES reporters(id),
    job_id TEXT NOT NULL,
    received BIGINT NOT NULL,
    ip_id BIGINT NOT NULL REFERENCES ip_addresses(id),
    helo TEXT NOT NULL DEFAULT '',
    mail_from TEXT NOT NULL DEFAULT '',
    env_domain_id BIGINT REFERENCES domains(id),
    rcpt_to TEXT NOT NULL DEFAULT '',
    header_from_domain_id BIGINT NOT NULL REFERENCES domains(id),
    policy_domain_id BIGINT REFERENCES domains(id),
    policy_record_id BIGINT REFERENCES policy_records(id),
    discovery_method TEXT,
    spf_result TEXT NOT NULL,
    spf_domain_id BIGINT REFERENCES domains(id),
    spf_scope TEXT NOT NULL,
    dkim_count BIGINT NOT NULL DEFAULT 0,
    arc_result TEXT NOT NULL DEFAULT 'none',
    arc_policy TEXT NOT NULL DEFAULT '',
    dkim_aligned BIGINT NOT NULL,
    spf_aligned BIGINT NOT NULL,
    dmarc_result TEXT NOT NULL,
    policy_applied TEXT,
    disposition TEXT NOT NULL,
    override_reasons TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    is_report BIGINT NOT NULL DEFAULT 0,
    origin TEXT NOT NULL CHECK (origin IN ('spool', 'history')),
    report_id BIGINT REFERENCES reports(id) ON DELETE SET NULL,
    -- The deduplication key, time first: imports arrive in time order, so new keys land at the
    -- right edge of the index instead of at random places (MTA queue ids are random), and the
    -- index also serves every time-range scan (expiry, periods, the dashboard).
    UNIQUE (received, reporter_id, job_id)
);
CREATE INDEX messages_policy_domain ON messages (policy_domain_id, received);
CREATE INDEX messages_header_from ON messages (header_from_domain_id, received);
CREATE INDEX messages_ip ON messages (ip_id, received);
-- Partial: messages are imported unreported, so the import does not touch this index.
CREATE INDEX messages_report ON messages (report_id) WHERE report_id IS NOT NULL;

CREATE TABLE dkim_results (
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    domain_id BIGINT NOT NULL REFERENCES domains(id),
    selector TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE import_sources (
    source TEXT PRIMARY KEY,
    watermark BIGINT NOT NULL
);
