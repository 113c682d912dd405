-- Per-user domain scoping of dmarc-web (web/README.md, "Security"): a scoped user sees only the
-- mail of its domains and their subdomains (messages by RFC5322.From or policy domain, reports by
-- policy domain). Existing users stay unscoped (scoped = 0: everything). A scoped user with no
-- rows in web_user_domains sees nothing. Administrators are never scoped (the CHECK). Domains
-- are lower-case A-labels (dmarc-web user ... --domains normalises them).
ALTER TABLE web_users ADD COLUMN scoped INTEGER NOT NULL DEFAULT 0
    CHECK (scoped IN (0, 1) AND (scoped = 0 OR role <> 'admin'));
CREATE TABLE web_user_domains (
    user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    PRIMARY KEY (user_id, domain)
);
