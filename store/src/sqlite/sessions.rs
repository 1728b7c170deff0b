//! Server-side sessions on SQLite: table `sessions`, keyed by the SHA-256 of the id.
//!
//! A session is live while `now` is before both its absolute and its idle expiry; the
//! expiry instants themselves are already past (a session expiring at `t` is gone at `t`).

use sqlx::SqlitePool;

use crate::codec::{decode_session, session_id_hash, to_millis, SessionColumns, SessionRow};
use crate::error::StoreError;
use crate::types::{NewSession, Session};

pub(super) async fn create(pool: &SqlitePool, s: &NewSession) -> Result<(), StoreError> {
    let row = SessionRow::encode(s)?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at_ms, expires_at_ms, \
                               idle_expires_at_ms, csrf_token) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id_hash)
    .bind(row.user_id)
    .bind(row.created_at_ms)
    .bind(row.expires_at_ms)
    .bind(row.idle_expires_at_ms)
    .bind(row.csrf_token)
    .execute(pool)
    .await
    .map_err(|e| {
        StoreError::from_sqlx_write(
            e,
            "a session with this id exists",
            &format!("no user {}", s.user_id),
        )
    })?;
    Ok(())
}

pub(super) async fn get(
    pool: &SqlitePool,
    id: &str,
    now: std::time::SystemTime,
) -> Result<Option<Session>, StoreError> {
    let now_ms = to_millis(now)?;
    let row: Option<SessionColumns> = sqlx::query_as(
        "SELECT user_id, created_at_ms, expires_at_ms, idle_expires_at_ms, csrf_token \
         FROM sessions WHERE id_hash = $1 AND expires_at_ms > $2 AND idle_expires_at_ms > $2",
    )
    .bind(session_id_hash(id))
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    row.map(decode_session).transpose()
}

pub(super) async fn touch(
    pool: &SqlitePool,
    id: &str,
    idle_expires_at: std::time::SystemTime,
) -> Result<bool, StoreError> {
    // MAX: concurrent requests of one session each push the expiry back; whichever
    // commits last must not pull it forward again.
    let done = sqlx::query(
        "UPDATE sessions SET idle_expires_at_ms = MAX(idle_expires_at_ms, $2) WHERE id_hash = $1",
    )
    .bind(session_id_hash(id))
    .bind(to_millis(idle_expires_at)?)
    .execute(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete(pool: &SqlitePool, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(session_id_hash(id))
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete_for_user(pool: &SqlitePool, user_id: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected())
}

pub(super) async fn purge_expired(
    pool: &SqlitePool,
    now: std::time::SystemTime,
) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1 OR idle_expires_at_ms <= $1")
            .bind(to_millis(now)?)
            .execute(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected())
}
