-- dmarc-web (issue 7): the reports page lists the ledger newest first. (The messages indexes the
-- dashboard needs, messages_ip and messages_header_from, exist here since 0001.)
CREATE INDEX reports_created ON reports (created, id);
