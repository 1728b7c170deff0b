//! Users on PostgreSQL: table `users`, one row per user, JSON columns as JSONB.

use sqlx::PgPool;

use crate::codec::{
    check_password_hash, decode_user, login_key, storable_login, UserColumns, UserRow,
};
use crate::error::StoreError;
use crate::types::{NewUser, User};

// JSONB travels as text both ways (no sqlx `json` feature needed).
const COLUMNS: &str = "id, login, display_name, password_hash, roles::text, segment, \
                       extra_tokens::text, attributes::text, created_at_ms";

pub(super) async fn create(pool: &PgPool, u: &NewUser) -> Result<User, StoreError> {
    let row = UserRow::encode(u)?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (login, login_key, display_name, password_hash, roles, segment, \
                            extra_tokens, attributes, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8::jsonb, $9) RETURNING id",
    )
    .bind(row.login)
    .bind(&row.login_key)
    .bind(row.display_name)
    .bind(row.password_hash)
    .bind(&row.roles)
    .bind(row.segment)
    .bind(&row.extra_tokens)
    .bind(&row.attributes)
    .bind(row.created_at_ms)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        StoreError::from_sqlx_write(
            e,
            &format!("the login {:?} is taken", u.login),
            "no such user",
        )
    })?;
    row.stored(id, u)
}

pub(super) async fn by_login(pool: &PgPool, login: &str) -> Result<Option<User>, StoreError> {
    if !storable_login(login) {
        return Ok(None);
    }
    let row: Option<UserColumns> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE login_key = $1"))
            .bind(login_key(login))
            .fetch_optional(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    row.map(decode_user).transpose()
}

pub(super) async fn by_id(pool: &PgPool, id: i64) -> Result<Option<User>, StoreError> {
    let row: Option<UserColumns> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    row.map(decode_user).transpose()
}

pub(super) async fn set_password_hash(
    pool: &PgPool,
    id: i64,
    hash: &str,
) -> Result<bool, StoreError> {
    check_password_hash(hash)?;
    let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn list(
    pool: &PgPool,
    limit: u32,
    after_id: Option<i64>,
) -> Result<Vec<User>, StoreError> {
    // Keyset paging on the primary key, oldest first (see `audit.rs` for why not OFFSET).
    let rows: Vec<UserColumns> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE $1::bigint IS NULL OR id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    rows.into_iter().map(decode_user).collect()
}
