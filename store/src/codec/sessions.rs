//! Sessions and login-failure keys in column form.

use sha2::{Digest, Sha256};

use super::{check_text, from_millis, to_millis};
use crate::error::StoreError;
use crate::types::{NewSession, Session};

/// Longest login-throttle key, in bytes (`user:` + a 254-character login, or `addr:` +
/// an IPv6 address, fit several times over).
const MAX_THROTTLE_KEY_BYTES: usize = 1024;

/// The stored form of a session id: its SHA-256. Whoever reads the table (a backup, a
/// leaked dump) gets no live session id. A plain hash suffices, no key or salt: the ids
/// are random with enough entropy that hashing guesses is hopeless, unlike passwords.
pub(crate) fn session_id_hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// A new session in column form, validated.
pub(crate) struct SessionRow<'a> {
    pub id_hash: Vec<u8>,
    pub user_id: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub idle_expires_at_ms: i64,
    pub csrf_token: &'a str,
}

impl<'a> SessionRow<'a> {
    pub(crate) fn encode(s: &'a NewSession) -> Result<Self, StoreError> {
        if s.id.is_empty() {
            return Err(StoreError::Invalid("a session id cannot be empty".into()));
        }
        check_text("session CSRF token", &s.csrf_token)?;
        Ok(SessionRow {
            id_hash: session_id_hash(&s.id),
            user_id: s.user_id,
            created_at_ms: to_millis(s.created_at)?,
            expires_at_ms: to_millis(s.expires_at)?,
            idle_expires_at_ms: to_millis(s.idle_expires_at)?,
            csrf_token: &s.csrf_token,
        })
    }
}

/// The session columns in select order:
/// `(user_id, created_at_ms, expires_at_ms, idle_expires_at_ms, csrf_token)`.
pub(crate) type SessionColumns = (i64, i64, i64, i64, String);

pub(crate) fn decode_session(
    (user_id, created_at_ms, expires_at_ms, idle_expires_at_ms, csrf_token): SessionColumns,
) -> Result<Session, StoreError> {
    Ok(Session {
        user_id,
        created_at: from_millis(created_at_ms)?,
        expires_at: from_millis(expires_at_ms)?,
        idle_expires_at: from_millis(idle_expires_at_ms)?,
        csrf_token,
    })
}

/// Checks a login-throttle key (`user:alice`, `addr:127.0.0.1`).
pub(crate) fn check_throttle_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_THROTTLE_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "a login throttle key has 1 to {MAX_THROTTLE_KEY_BYTES} bytes, not {}",
            key.len()
        )));
    }
    check_text("login throttle key", key)
}

/// A count from the database as the `u32` the API returns (saturating: a count past
/// four billion means "very many" just as well).
pub(crate) fn count_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_hash_to_sha256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let hex: String = session_id_hash("abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn throttle_keys_are_bounded() {
        assert!(check_throttle_key("user:alice").is_ok());
        assert!(check_throttle_key("").is_err());
        assert!(check_throttle_key("a\0").is_err());
        assert!(check_throttle_key(&"k".repeat(1025)).is_err());
        assert_eq!(count_u32(-1), 0);
        assert_eq!(count_u32(i64::MAX), u32::MAX);
    }
}
