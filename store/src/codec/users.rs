//! Users in column form.
//!
//! Roles, extra tokens and attributes are JSON columns (SQLite text checked with
//! `json_valid`, PostgreSQL `JSONB`) rather than child tables: they are always read and
//! written with the user as a whole (a login loads the user once; nothing in the store
//! searches users by role), so one row per user means one read and one insert without
//! joins or per-element statements, and a user is created atomically without a
//! transaction. Should a "users with role X" query ever be needed, PostgreSQL can index
//! the JSONB (GIN) and SQLite can use `json_each`.

use std::collections::BTreeMap;

use super::{check_text, from_millis, to_millis};
use crate::error::StoreError;
use crate::types::{NewUser, User};

/// Longest login, in characters: an e-mail address (254) fits.
const MAX_LOGIN_CHARS: usize = 254;

/// Longest password hash, in bytes. An Argon2 PHC string is about 100 bytes; the bound
/// only stops a caller bug from storing something that is plainly not a hash.
const MAX_PASSWORD_HASH_BYTES: usize = 1024;

/// The key under which a login is unique: the login lowercased. Computed here, not by
/// the database, so that both backends agree (SQLite's `NOCASE` folds ASCII only, and
/// PostgreSQL's `lower()` depends on the database locale).
pub fn login_key(login: &str) -> String {
    login.to_lowercase()
}

/// Whether `login` could be stored at all; lookups of impossible logins find nothing
/// without asking the database (PostgreSQL would reject a NUL with an error).
pub(crate) fn storable_login(login: &str) -> bool {
    check_login(login).is_ok()
}

fn check_login(login: &str) -> Result<(), StoreError> {
    let chars = login.chars().count();
    if chars == 0 || chars > MAX_LOGIN_CHARS {
        return Err(StoreError::Invalid(format!(
            "a login has 1 to {MAX_LOGIN_CHARS} characters, not {chars}"
        )));
    }
    if login.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a login cannot contain control characters".into(),
        ));
    }
    if login.trim() != login {
        return Err(StoreError::Invalid(
            "a login cannot start or end with white space".into(),
        ));
    }
    Ok(())
}

/// A PHC string starts with `$` (`$argon2id$v=19$m=…$salt$hash`) and has no white space.
pub(crate) fn check_password_hash(hash: &str) -> Result<(), StoreError> {
    if !hash.starts_with('$')
        || hash.len() > MAX_PASSWORD_HASH_BYTES
        || hash.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(StoreError::Invalid(
            "the password hash is not a PHC string ($algorithm$…)".into(),
        ));
    }
    Ok(())
}

fn list_to_json(field: &str, items: &[String]) -> Result<String, StoreError> {
    for item in items {
        check_text(field, item)?;
    }
    serde_json::to_string(items)
        .map_err(|e| StoreError::Invalid(format!("{field} cannot be encoded: {e}")))
}

fn map_to_json(field: &str, map: &BTreeMap<String, String>) -> Result<String, StoreError> {
    for (k, v) in map {
        check_text(field, k)?;
        check_text(field, v)?;
    }
    serde_json::to_string(map)
        .map_err(|e| StoreError::Invalid(format!("{field} cannot be encoded: {e}")))
}

/// A new user in column form, validated.
pub(crate) struct UserRow<'a> {
    pub login: &'a str,
    pub login_key: String,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub roles: String,
    pub segment: Option<&'a str>,
    pub extra_tokens: String,
    pub attributes: String,
    pub created_at_ms: i64,
}

impl<'a> UserRow<'a> {
    pub(crate) fn encode(u: &'a NewUser) -> Result<Self, StoreError> {
        check_login(&u.login)?;
        check_text("user display name", &u.display_name)?;
        check_password_hash(&u.password_hash)?;
        if let Some(segment) = &u.segment {
            check_text("user segment", segment)?;
        }
        Ok(UserRow {
            login: &u.login,
            login_key: login_key(&u.login),
            display_name: &u.display_name,
            password_hash: &u.password_hash,
            roles: list_to_json("user roles", &u.roles)?,
            segment: u.segment.as_deref(),
            extra_tokens: list_to_json("user extra tokens", &u.extra_tokens)?,
            attributes: map_to_json("user attributes", &u.attributes)?,
            created_at_ms: to_millis(u.created_at)?,
        })
    }

    /// The user as it reads back once stored under `id` (times truncated to the ms).
    pub(crate) fn stored(&self, id: i64, u: &NewUser) -> Result<User, StoreError> {
        Ok(User {
            id,
            login: u.login.clone(),
            display_name: u.display_name.clone(),
            password_hash: u.password_hash.clone(),
            roles: u.roles.clone(),
            segment: u.segment.clone(),
            extra_tokens: u.extra_tokens.clone(),
            attributes: u.attributes.clone(),
            created_at: from_millis(self.created_at_ms)?,
        })
    }
}

/// The user columns in select order: `(id, login, display_name, password_hash, roles,
/// segment, extra_tokens, attributes, created_at_ms)`, JSON columns as text.
pub(crate) type UserColumns = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
);

pub(crate) fn decode_user(
    (
        id,
        login,
        display_name,
        password_hash,
        roles,
        segment,
        extra_tokens,
        attributes,
        created_at_ms,
    ): UserColumns,
) -> Result<User, StoreError> {
    let bad = |field: &str, e: serde_json::Error| {
        StoreError::Query(format!("user {id}: stored {field} are not valid JSON: {e}"))
    };
    Ok(User {
        id,
        login,
        display_name,
        password_hash,
        roles: serde_json::from_str(&roles).map_err(|e| bad("roles", e))?,
        segment,
        extra_tokens: serde_json::from_str(&extra_tokens).map_err(|e| bad("extra tokens", e))?,
        attributes: serde_json::from_str(&attributes).map_err(|e| bad("attributes", e))?,
        created_at: from_millis(created_at_ms)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_keyed_by_their_lowercase() {
        assert_eq!(login_key("Alice"), "alice");
        assert_eq!(login_key("ZOË"), "zoë");
        assert!(storable_login("alice@example.org"));
        for bad in ["", " alice", "alice ", "a\0b", "a\nb", &"x".repeat(255)] {
            assert!(!storable_login(bad), "{bad:?}");
        }
    }

    #[test]
    fn password_hashes_must_look_like_phc_strings() {
        assert!(check_password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_ok());
        for bad in ["", "hunter2", "$a b", "$a\0"] {
            assert!(check_password_hash(bad).is_err(), "{bad:?}");
        }
    }
}
