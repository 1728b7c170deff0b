//! Registered descriptors on PostgreSQL (the queries: `crate::descriptor_queries`).

use sqlx::PgPool;

crate::descriptor_queries::descriptor_queries!(
    PgPool,
    begin_write: "BEGIN",
    collate: "COLLATE \"C\"",
    cursor: "$1::bigint"
);
