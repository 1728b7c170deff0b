-- Operator toggles: at most one per backend service.
CREATE TABLE toggles (
    service TEXT PRIMARY KEY,
    mode    TEXT NOT NULL CHECK (mode IN ('disabled', 'forced_closed')),
    reason  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at_ms   BIGINT NOT NULL           -- unix milliseconds
);

-- Audit log. Identity values are never reused; under concurrent appends they increase
-- in allocation order, which can differ slightly from commit order.
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms   BIGINT NOT NULL,          -- unix milliseconds
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    reason  TEXT,
    origin  TEXT,
    detail  JSONB
);
