//! Registered descriptors on SQLite (the queries: `crate::descriptor_queries`).

use sqlx::SqlitePool;

crate::descriptor_queries::descriptor_queries!(
    SqlitePool,
    begin_write: "BEGIN IMMEDIATE",
    collate: "COLLATE BINARY",
    cursor: "$1"
);
