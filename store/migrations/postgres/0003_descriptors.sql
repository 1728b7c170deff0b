-- Hot registration: the descriptor documents and templates registered at runtime, over
-- the files in the config and templates folders, and every version of the whole set.

-- What the running set holds that the files do not: a document registered or replaced
-- through the admin API (body), or a file's document removed (body NULL).
CREATE TABLE descriptor_overlay (
    kind    TEXT NOT NULL,            -- service | fragment | page | lifecycle | template
    name    TEXT NOT NULL,            -- descriptor id or template name
    body    TEXT,
    PRIMARY KEY (kind, name)
);

-- One row per change of the set; `snapshot` holds the whole set as it was after the
-- change (JSON text: kept byte for byte), so that a rollback restores it exactly.
CREATE TABLE descriptor_versions (
    version  BIGINT PRIMARY KEY,      -- 1, 2, 3 … (never reused)
    at_ms    BIGINT NOT NULL,         -- unix milliseconds
    actor    TEXT NOT NULL,
    origin   TEXT NOT NULL,           -- api | files | rollback | start
    reason   TEXT NOT NULL,
    summary  TEXT NOT NULL,
    snapshot TEXT NOT NULL
);
