//! The audit log on PostgreSQL: table `audit_log`, append-only through the store.

use sqlx::PgPool;

use crate::codec::{decode_audit, AuditColumns, AuditRow};
use crate::error::StoreError;
use crate::types::{AuditEntry, AuditRecord};

pub(super) async fn append(pool: &PgPool, e: &AuditEntry) -> Result<i64, StoreError> {
    let row = AuditRow::encode(e)?;
    // Detail travels as text and is cast server-side, so sqlx's `json` feature is not
    // needed; `codec` has already checked that it is JSON PostgreSQL accepts.
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (at_ms, actor, action, target, reason, origin, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id",
    )
    .bind(row.at_ms)
    .bind(row.actor)
    .bind(row.action)
    .bind(row.target)
    .bind(row.reason)
    .bind(row.origin)
    .bind(row.detail)
    .fetch_one(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(id)
}

pub(super) async fn list(
    pool: &PgPool,
    limit: u32,
    before_id: Option<i64>,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Keyset paging on the primary key (see the SQLite twin for why not OFFSET).
    let rows: Vec<AuditColumns> = sqlx::query_as(
        "SELECT id, at_ms, actor, action, target, reason, origin, detail::text FROM audit_log \
         WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    rows.into_iter().map(decode_audit).collect()
}
