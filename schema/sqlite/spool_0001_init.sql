-- The milter's local history spool (design.md §7): one row per evaluated message, written by one
-- background thread in WAL mode, read and then deleted by dmarc-collector. Lists are stored as
-- escaped text (io/spool.cpp) because the spool is a queue, not a place for queries.
CREATE TABLE schema_version (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE TABLE spool_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- AUTOINCREMENT: ids are never reused after the collector deletes rows, so a watermark stays valid.
CREATE TABLE spool_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    queue_id TEXT NOT NULL,
    reporter_host TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_to TEXT NOT NULL,
    header_from TEXT NOT NULL,
    policy_domain TEXT NOT NULL,
    discovery_method TEXT,
    record_p TEXT,
    record_sp TEXT,
    record_np TEXT,
    record_adkim TEXT,
    record_aspf TEXT,
    record_pct INTEGER,
    record_testing INTEGER,
    record_fo TEXT,
    record_rua TEXT,
    spf_result TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_scope TEXT NOT NULL,
    dkim TEXT NOT NULL,
    arc TEXT NOT NULL,
    dkim_aligned INTEGER NOT NULL,
    spf_aligned INTEGER NOT NULL,
    dmarc_result TEXT NOT NULL,
    policy_applied TEXT,
    disposition TEXT NOT NULL,
    override_reasons TEXT NOT NULL,
    action TEXT NOT NULL,
    is_report INTEGER NOT NULL
);
