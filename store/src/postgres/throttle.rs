//! Failed-login bookkeeping on PostgreSQL: table `login_failures`, one row per failure.

use std::time::{Duration, SystemTime};

use sqlx::PgPool;

use crate::codec::{check_throttle_key, count_u32, to_millis};
use crate::error::StoreError;

pub(super) async fn record(
    pool: &PgPool,
    key: &str,
    now: SystemTime,
    window: Duration,
) -> Result<u32, StoreError> {
    check_throttle_key(key)?;
    let now_ms = to_millis(now)?;
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let since_ms = now_ms.saturating_sub(window_ms);
    let mut tx = pool.begin().await.map_err(StoreError::from_sqlx)?;
    // Serialize the failures of one key (SQLite does so by having one writer): under READ
    // COMMITTED, concurrent transactions would each count without the others' uncommitted
    // rows, so parallel guesses could all see a count under the limit. The lock is held
    // until commit; a hash collision only serializes two unrelated keys.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
    // Pruning every key's old rows here keeps the table at one window of failures
    // without a separate cleaning task.
    sqlx::query("DELETE FROM login_failures WHERE at_ms < $1")
        .bind(since_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
    sqlx::query("INSERT INTO login_failures (key, at_ms) VALUES ($1, $2)")
        .bind(key)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at_ms >= $2")
            .bind(key)
            .bind(since_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    tx.commit().await.map_err(StoreError::from_sqlx)?;
    Ok(count_u32(n))
}

pub(super) async fn count(pool: &PgPool, key: &str, since: SystemTime) -> Result<u32, StoreError> {
    if check_throttle_key(key).is_err() {
        return Ok(0);
    }
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at_ms >= $2")
            .bind(key)
            .bind(to_millis(since)?)
            .fetch_one(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    Ok(count_u32(n))
}

pub(super) async fn clear(pool: &PgPool, key: &str) -> Result<(), StoreError> {
    if check_throttle_key(key).is_err() {
        return Ok(());
    }
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(())
}
