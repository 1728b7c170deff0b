//! The user layer of the profile (table `profile_values`) and page customizations
//! (table `customizations`) on SQLite.

use std::collections::BTreeMap;

use sqlx::SqlitePool;

use crate::codec::{
    check_page_id, check_profile_name, check_profile_value, decode_customization,
    encode_customization,
};
use crate::error::StoreError;
use crate::types::Customization;

pub(super) async fn values(
    pool: &SqlitePool,
    user_id: i64,
) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, value FROM profile_values WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    Ok(rows.into_iter().collect())
}

pub(super) async fn set_values(
    pool: &SqlitePool,
    user_id: i64,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<(), StoreError> {
    // Validate everything first: a bad entry rejects the whole change, before any write.
    for (name, value) in changes {
        check_profile_name(name)?;
        if let Some(value) = value {
            check_profile_value(name, value)?;
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    let missing = format!("no user {user_id}");
    let mut tx = pool.begin().await.map_err(StoreError::from_sqlx)?;
    for (name, value) in changes {
        let query = match value {
            Some(value) => sqlx::query(
                "INSERT INTO profile_values (user_id, name, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value",
            )
            .bind(user_id)
            .bind(name)
            .bind(value),
            None => sqlx::query("DELETE FROM profile_values WHERE user_id = $1 AND name = $2")
                .bind(user_id)
                .bind(name),
        };
        query
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx_write(e, "profile value conflict", &missing))?;
    }
    tx.commit().await.map_err(StoreError::from_sqlx)
}

pub(super) async fn customization(
    pool: &SqlitePool,
    user_id: i64,
    page_id: &str,
) -> Result<Option<Customization>, StoreError> {
    if check_page_id(page_id).is_err() {
        return Ok(None);
    }
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT slots, updated_at_ms FROM customizations WHERE user_id = $1 AND page_id = $2",
    )
    .bind(user_id)
    .bind(page_id)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    row.map(decode_customization).transpose()
}

pub(super) async fn put_customization(
    pool: &SqlitePool,
    user_id: i64,
    page_id: &str,
    c: &Customization,
) -> Result<(), StoreError> {
    check_page_id(page_id)?;
    let (slots, updated_at_ms) = encode_customization(c)?;
    // One autocommit statement: with `synchronous=FULL` it is fsynced before `execute`
    // returns, so an acknowledged write survives a crash.
    sqlx::query(
        "INSERT INTO customizations (user_id, page_id, slots, updated_at_ms) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, page_id) DO UPDATE SET \
           slots = excluded.slots, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(user_id)
    .bind(page_id)
    .bind(slots)
    .bind(updated_at_ms)
    .execute(pool)
    .await
    .map_err(|e| {
        StoreError::from_sqlx_write(e, "customization conflict", &format!("no user {user_id}"))
    })?;
    Ok(())
}

pub(super) async fn delete_customization(
    pool: &SqlitePool,
    user_id: i64,
    page_id: &str,
) -> Result<bool, StoreError> {
    if check_page_id(page_id).is_err() {
        return Ok(false);
    }
    let done = sqlx::query("DELETE FROM customizations WHERE user_id = $1 AND page_id = $2")
        .bind(user_id)
        .bind(page_id)
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(done.rows_affected() > 0)
}
