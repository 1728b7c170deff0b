//! Registered descriptors (hot registration), tables `descriptor_overlay` and
//! `descriptor_versions`: the queries are the same on both backends, so they are written
//! once, here, and instantiated per backend by [`descriptor_queries!`] with its pool type,
//! how a writing transaction begins, the byte-order collation and the cursor parameter's
//! spelling.

/// Defines `registered`, `commit`, `versions` and `snapshot` for one backend.
macro_rules! descriptor_queries {
    ($pool:ty, begin_write: $begin_write:literal, collate: $collate:literal, cursor: $cursor:literal) => {
        use crate::codec::{decode_descriptor_version, DescriptorVersionRow, VersionColumns};
        use crate::error::StoreError;
        use crate::types::{DescriptorVersion, NewDescriptorVersion, OverlayDoc, RegisteredSet};

        pub(super) async fn registered(pool: &$pool) -> Result<RegisteredSet, StoreError> {
            // One transaction, so that the overlay and the version number belong together.
            let mut tx = pool.begin().await.map_err(StoreError::from_sqlx)?;
            let (version,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM descriptor_versions")
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                concat!(
                    "SELECT kind, name, body FROM descriptor_overlay ORDER BY kind ",
                    $collate,
                    ", name ",
                    $collate
                ),
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            Ok(RegisteredSet {
                version: version.unwrap_or(0),
                overlay: rows
                    .into_iter()
                    .map(|(kind, name, body)| OverlayDoc { kind, name, body })
                    .collect(),
            })
        }

        pub(super) async fn commit(
            pool: &$pool,
            expected: i64,
            change: &NewDescriptorVersion,
        ) -> Result<i64, StoreError> {
            let row = DescriptorVersionRow::encode(change)?;
            let conflict = || {
                StoreError::Conflict(format!(
                    "the descriptor set is no longer at version {expected}: another change was committed first"
                ))
            };
            // `$begin_write` takes the write lock first where the backend needs it (SQLite's
            // `BEGIN IMMEDIATE`, waiting under `busy_timeout`), so that reading the newest version
            // and writing the next one cannot interleave with another commit and a read lock is
            // never upgraded (which SQLite refuses with SQLITE_BUSY).
            let mut tx = pool
                .begin_with($begin_write)
                .await
                .map_err(StoreError::from_sqlx)?;
            let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM descriptor_versions")
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            if newest.unwrap_or(0) != expected {
                return Err(conflict());
            }
            let version = expected + 1;
            // Inserting the version first: of two nodes committing on the same version, the
            // second waits on the primary key and then fails with a unique violation.
            sqlx::query(
                "INSERT INTO descriptor_versions (version, at_ms, actor, origin, reason, summary, snapshot) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(version)
            .bind(row.at_ms)
            .bind(row.actor)
            .bind(row.origin)
            .bind(row.reason)
            .bind(row.summary)
            .bind(row.snapshot)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx_write(e, "another change was committed first", ""))
            .map_err(|e| match e {
                StoreError::Conflict(_) => conflict(),
                e => e,
            })?;
            sqlx::query("DELETE FROM descriptor_overlay")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            for doc in &change.overlay {
                sqlx::query("INSERT INTO descriptor_overlay (kind, name, body) VALUES ($1, $2, $3)")
                    .bind(&doc.kind)
                    .bind(&doc.name)
                    .bind(doc.body.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
            }
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            Ok(version)
        }

        pub(super) async fn versions(
            pool: &$pool,
            limit: u32,
            before: Option<i64>,
        ) -> Result<Vec<DescriptorVersion>, StoreError> {
            let rows: Vec<VersionColumns> = sqlx::query_as(
                concat!(
                    "SELECT version, at_ms, actor, origin, reason, summary FROM descriptor_versions \
                     WHERE ",
                    $cursor,
                    " IS NULL OR version < $1 ORDER BY version DESC LIMIT $2"
                ),
            )
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
            rows.into_iter().map(decode_descriptor_version).collect()
        }

        pub(super) async fn snapshot(
            pool: &$pool,
            version: i64,
        ) -> Result<Option<String>, StoreError> {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT snapshot FROM descriptor_versions WHERE version = $1")
                    .bind(version)
                    .fetch_optional(pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
            Ok(row.map(|(s,)| s))
        }
    };
}

pub(crate) use descriptor_queries;
