-- dmarc-web's users (issue 7 item 3): a name, a role (admin may change things, viewer only
-- reads) and an argon2id password hash in libsodium's crypto_pwhash_str format (it carries its own
-- salt and cost parameters). Created by `dmarc-web user add`.
CREATE TABLE web_users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
