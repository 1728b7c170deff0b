-- Users. `login_key` is the login lowercased by the store (in Rust, so that both backends
-- agree on what "the same login" is); it carries the uniqueness, `login` keeps the case
-- as typed. Roles, extra tokens and attributes are JSON: always read and written with the
-- user as a whole (see `codec/users.rs`). AUTOINCREMENT: ids are never reused, so a
-- session or audit entry naming an old id can never point at a new user.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login         TEXT NOT NULL,
    login_key     TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,      -- PHC string made by the caller (argon2)
    roles         TEXT NOT NULL CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    segment       TEXT,
    extra_tokens  TEXT NOT NULL
                  CHECK (json_valid(extra_tokens) AND json_type(extra_tokens) = 'array'),
    attributes    TEXT NOT NULL
                  CHECK (json_valid(attributes) AND json_type(attributes) = 'object'),
    created_at_ms INTEGER NOT NULL    -- unix milliseconds
) STRICT;

-- Server-side sessions, keyed by the SHA-256 of the session id: the id itself is never
-- stored, so a copy of the database holds no live session.
CREATE TABLE sessions (
    id_hash            BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms      INTEGER NOT NULL,
    expires_at_ms      INTEGER NOT NULL,   -- absolute expiry
    idle_expires_at_ms INTEGER NOT NULL,   -- pushed back by activity
    csrf_token         TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);             -- log out everywhere
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);     -- purge
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at_ms);

-- The user layer of the hierarchical profile: one row per (user, name).
CREATE TABLE profile_values (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) STRICT, WITHOUT ROWID;

-- A user's layout of a customizable page, as JSON (read and written whole).
CREATE TABLE customizations (
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    page_id       TEXT NOT NULL,
    slots         TEXT NOT NULL CHECK (json_valid(slots) AND json_type(slots) = 'array'),
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, page_id)
) STRICT, WITHOUT ROWID;

-- Failed logins, one row each, for throttling. Rows older than the store's window are
-- pruned as new failures arrive, so the table holds one window's worth of failures.
CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    key   TEXT NOT NULL,                -- e.g. 'user:alice', 'addr:127.0.0.1'
    at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_by_key ON login_failures (key, at_ms);
CREATE INDEX login_failures_by_time ON login_failures (at_ms);
