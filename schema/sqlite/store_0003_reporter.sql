-- dmarc-reporter (issue 6): what the report ledger needs beyond 0001. A delivery remembers the
-- !size limit of its URI, whether its external destination verification (RFC 7489 §7.1) is
-- done (0: the DNS check answered temperror and is repeated on the next attempt), what was
-- finally sent (the report, its split parts, or the RFC 7489 §7.2.2 error report) and, for a
-- split report, how many parts the server has accepted so far (a rerun resumes after them).
ALTER TABLE report_deliveries ADD COLUMN max_size INTEGER;
ALTER TABLE report_deliveries ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE report_deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'report'
    CHECK (kind IN ('report', 'split', 'error_report'));
ALTER TABLE report_deliveries ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
