-- Operator toggles: at most one per backend service.
CREATE TABLE toggles (
    service TEXT PRIMARY KEY NOT NULL,
    mode    TEXT NOT NULL CHECK (mode IN ('disabled', 'forced_closed')),
    reason  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at_ms   INTEGER NOT NULL          -- unix milliseconds
) STRICT;

-- Audit log. AUTOINCREMENT so that ids are never reused, even after rows are pruned.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms   INTEGER NOT NULL,         -- unix milliseconds
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    reason  TEXT,
    origin  TEXT,
    detail  TEXT CHECK (detail IS NULL OR json_valid(detail))
) STRICT;
