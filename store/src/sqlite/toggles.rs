//! Operator toggles on SQLite: table `toggles`, one row per service.

use sqlx::SqlitePool;

use crate::codec::{decode_toggle, ToggleRow};
use crate::error::StoreError;
use crate::types::Toggle;

pub(super) async fn put(pool: &SqlitePool, t: &Toggle) -> Result<(), StoreError> {
    let row = ToggleRow::encode(t)?;
    sqlx::query(
        "INSERT INTO toggles (service, mode, reason, actor, at_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (service) DO UPDATE SET \
           mode = excluded.mode, reason = excluded.reason, \
           actor = excluded.actor, at_ms = excluded.at_ms",
    )
    .bind(row.service)
    .bind(row.mode)
    .bind(row.reason)
    .bind(row.actor)
    .bind(row.at_ms)
    .execute(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(())
}

pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<Toggle>, StoreError> {
    // BINARY collation: byte order, the same order as PostgreSQL's `COLLATE "C"`.
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT service, mode, reason, actor, at_ms FROM toggles ORDER BY service COLLATE BINARY",
    )
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    rows.into_iter().map(decode_toggle).collect()
}

pub(super) async fn delete(pool: &SqlitePool, service: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM toggles WHERE service = $1")
        .bind(service)
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected() > 0)
}
