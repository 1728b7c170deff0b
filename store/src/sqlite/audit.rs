//! The audit log on SQLite: table `audit_log`, append-only through the store.

use sqlx::SqlitePool;

use crate::codec::{decode_audit, AuditColumns, AuditRow};
use crate::error::StoreError;
use crate::types::{AuditEntry, AuditRecord};

pub(super) async fn append(pool: &SqlitePool, e: &AuditEntry) -> Result<i64, StoreError> {
    let row = AuditRow::encode(e)?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (at_ms, actor, action, target, reason, origin, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
    pool: &SqlitePool,
    limit: u32,
    before_id: Option<i64>,
) -> Result<Vec<AuditRecord>, StoreError> {
    // `id < before` walks the primary key backwards from the cursor: each page costs
    // `limit` rows however deep the operator pages, unlike OFFSET.
    let rows: Vec<AuditColumns> = sqlx::query_as(
        "SELECT id, at_ms, actor, action, target, reason, origin, detail FROM audit_log \
         WHERE $1 IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    rows.into_iter().map(decode_audit).collect()
}
