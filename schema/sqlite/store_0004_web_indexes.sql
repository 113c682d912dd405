-- dmarc-web (issue 7): the indexes the dashboard needs to stay fast on a store of 10 M messages.
-- (ip_id, received): a source's first-ever message (the sources page's "new" flag and the
-- overview's failing sources) is one index seek instead of a scan of the whole table; PostgreSQL
-- has had it since 0001. (created, id): the reports page lists the ledger newest first.
CREATE INDEX messages_ip ON messages (ip_id, received);
CREATE INDEX reports_created ON reports (created, id);
