//! The user state both backends keep — sessions, toggles, the audit log, users, profile
//! values and customizations — written once: the queries are the same SQL apart from a
//! few dialect spellings, which [`state_queries!`] takes per backend (as
//! `descriptor_queries` does for registered descriptors). Each backend's `mod.rs`
//! instantiates it once; the modules it defines (`sessions`, `toggles`, `audit`, `users`,
//! `profile`) hold the queries.
//!
//! The dialect:
//! - `json_in` / `json_out`: how a JSON column is written from and read into text
//!   (PostgreSQL casts to and from JSONB; SQLite stores text);
//! - `nullable_id`: an optional id parameter that PostgreSQL must be told is a `bigint`;
//! - `greatest`: the two-argument maximum (`MAX` / `GREATEST`);
//! - `collate`: byte-order collation (`COLLATE BINARY` / `COLLATE "C"`).

/// Defines the modules `sessions`, `toggles`, `audit`, `users` and `profile` for one
/// backend.
macro_rules! state_queries {
    (
        $pool:ty,
        json_in: $json_in:literal,
        json_out: $json_out:literal,
        nullable_id: $nullable_id:literal,
        greatest: $greatest:literal,
        collate: $collate:literal
    ) => {
        pub(super) mod sessions {
            //! Server-side sessions: table `sessions`, keyed by the SHA-256 of the id. A session is
            //! live while `now` is before both its absolute and its idle expiry; the expiry instants
            //! themselves are already past (a session expiring at `t` is gone at `t`).

            use crate::codec::{decode_session, session_id_hash, to_millis, SessionColumns, SessionRow};
            use crate::error::StoreError;
            use crate::types::{NewSession, Session};

            pub(super) async fn create(pool: &$pool, s: &NewSession) -> Result<(), StoreError> {
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
                pool: &$pool,
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
                pool: &$pool,
                id: &str,
                idle_expires_at: std::time::SystemTime,
            ) -> Result<bool, StoreError> {
                // The greater of the two: concurrent requests of one session each push the expiry
                // back; whichever commits last must not pull it forward again.
                let done = sqlx::query(concat!(
                    "UPDATE sessions SET idle_expires_at_ms = ",
                    $greatest,
                    "(idle_expires_at_ms, $2) WHERE id_hash = $1"
                ))
                .bind(session_id_hash(id))
                .bind(to_millis(idle_expires_at)?)
                .execute(pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn delete(pool: &$pool, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(session_id_hash(id))
                    .execute(pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() > 0)
            }

            pub(super) async fn delete_for_user(pool: &$pool, user_id: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected())
            }

            pub(super) async fn purge_expired(
                pool: &$pool,
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
        }

        pub(super) mod toggles {
            //! Operator toggles: table `toggles`, one row per service.

            use crate::codec::{decode_toggle, ToggleRow};
            use crate::error::StoreError;
            use crate::types::Toggle;

            pub(super) async fn put(pool: &$pool, t: &Toggle) -> Result<(), StoreError> {
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

            pub(super) async fn list(pool: &$pool) -> Result<Vec<Toggle>, StoreError> {
                // Byte order on both backends (SQLite's BINARY, PostgreSQL's "C").
                let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
                    concat!(
                        "SELECT service, mode, reason, actor, at_ms FROM toggles ORDER BY service ",
                        $collate
                    ),
                )
                .fetch_all(pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(decode_toggle).collect()
            }

            pub(super) async fn delete(pool: &$pool, service: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM toggles WHERE service = $1")
                    .bind(service)
                    .execute(pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() > 0)
            }
        }

        pub(super) mod audit {
            //! The audit log: table `audit_log`, append-only through the store.

            use crate::codec::{decode_audit, AuditColumns, AuditRow};
            use crate::error::StoreError;
            use crate::types::{AuditEntry, AuditRecord};

            pub(super) async fn append(pool: &$pool, e: &AuditEntry) -> Result<i64, StoreError> {
                let row = AuditRow::encode(e)?;
                // JSON travels as text; PostgreSQL casts it to JSONB (`codec` checked it is JSON).
                let (id,): (i64,) = sqlx::query_as(concat!(
                    "INSERT INTO audit_log (at_ms, actor, action, target, reason, origin, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7",
                    $json_in,
                    ") RETURNING id"
                ))
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
                pool: &$pool,
                limit: u32,
                before_id: Option<i64>,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                // `id < before` walks the primary key backwards from the cursor: each page costs
                // `limit` rows however deep the operator pages, unlike OFFSET.
                let rows: Vec<AuditColumns> = sqlx::query_as(concat!(
                    "SELECT id, at_ms, actor, action, target, reason, origin, detail",
                    $json_out,
                    " FROM audit_log WHERE ",
                    $nullable_id,
                    " IS NULL OR id < $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(decode_audit).collect()
            }
        }

        pub(super) mod users {
            //! Users: table `users`, one row per user; JSON columns (text on SQLite, JSONB on
            //! PostgreSQL).

            use crate::codec::{
                check_password_hash, decode_user, login_key, storable_login, UserColumns, UserRow,
            };
            use crate::error::StoreError;
            use crate::types::{NewUser, User};

            // JSON columns travel as text both ways (PostgreSQL's JSONB cast on the way).
            const COLUMNS: &str = concat!(
                "id, login, display_name, password_hash, roles",
                $json_out,
                ", segment, extra_tokens",
                $json_out,
                ", attributes",
                $json_out,
                ", created_at_ms"
            );
            const NULLABLE_ID: &str = $nullable_id;

            pub(super) async fn create(pool: &$pool, u: &NewUser) -> Result<User, StoreError> {
                let row = UserRow::encode(u)?;
                let (id,): (i64,) = sqlx::query_as(concat!(
                    "INSERT INTO users (login, login_key, display_name, password_hash, roles, segment, \
                                        extra_tokens, attributes, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5",
                    $json_in,
                    ", $6, $7",
                    $json_in,
                    ", $8",
                    $json_in,
                    ", $9) RETURNING id"
                ))
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

            pub(super) async fn by_login(pool: &$pool, login: &str) -> Result<Option<User>, StoreError> {
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

            pub(super) async fn by_id(pool: &$pool, id: i64) -> Result<Option<User>, StoreError> {
                let row: Option<UserColumns> =
                    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                row.map(decode_user).transpose()
            }

            pub(super) async fn set_password_hash(
                pool: &$pool,
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
                pool: &$pool,
                limit: u32,
                after_id: Option<i64>,
            ) -> Result<Vec<User>, StoreError> {
                // Keyset paging on the primary key, oldest first (see `audit.rs` for why not OFFSET).
                let rows: Vec<UserColumns> = sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM users WHERE {NULLABLE_ID} IS NULL OR id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(decode_user).collect()
            }
        }

        pub(super) mod profile {
            //! The user layer of the profile (table `profile_values`) and page customizations
            //! (table `customizations`).

            use std::collections::BTreeMap;


            use crate::codec::{
                check_page_id, check_profile_name, check_profile_value, decode_customization,
                encode_customization,
            };
            use crate::error::StoreError;
            use crate::types::Customization;

            pub(super) async fn values(
                pool: &$pool,
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
                pool: &$pool,
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
                pool: &$pool,
                user_id: i64,
                page_id: &str,
            ) -> Result<Option<Customization>, StoreError> {
                if check_page_id(page_id).is_err() {
                    return Ok(None);
                }
                let row: Option<(String, i64)> = sqlx::query_as(concat!(
                    "SELECT slots",
                    $json_out,
                    ", updated_at_ms FROM customizations WHERE user_id = $1 AND page_id = $2"
                ))
                .bind(user_id)
                .bind(page_id)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                row.map(decode_customization).transpose()
            }

            pub(super) async fn put_customization(
                pool: &$pool,
                user_id: i64,
                page_id: &str,
                c: &Customization,
            ) -> Result<(), StoreError> {
                check_page_id(page_id)?;
                let (slots, updated_at_ms) = encode_customization(c)?;
                // One autocommit statement, durable before `execute` returns (SQLite with
                // `synchronous=FULL` fsyncs it, PostgreSQL's default `synchronous_commit=on` flushes
                // the WAL), so an acknowledged write survives a crash.
                sqlx::query(concat!(
                    "INSERT INTO customizations (user_id, page_id, slots, updated_at_ms) \
                     VALUES ($1, $2, $3",
                    $json_in,
                    ", $4) \
                     ON CONFLICT (user_id, page_id) DO UPDATE SET \
                       slots = excluded.slots, updated_at_ms = excluded.updated_at_ms"
                ))
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
                pool: &$pool,
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
        }
    };
}

pub(crate) use state_queries;
