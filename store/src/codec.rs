//! Conversions between the public types and their column representations, shared by both
//! backends so that SQLite and PostgreSQL store (and reject) exactly the same values.

//!
//! Layout: this file holds the shared conversions (times, text, JSON detail) and the
//! operator tables; `codec/users.rs`, `codec/sessions.rs` (sessions and login-throttle
//! keys) and `codec/profile.rs` (profile values and customizations) the user state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::StoreError;
use crate::types::{AuditEntry, AuditRecord, Toggle, ToggleMode};

mod profile;
mod sessions;
pub(crate) mod users;

pub(crate) use profile::{
    check_page_id, check_profile_name, check_profile_value, decode_customization,
    encode_customization,
};
pub use profile::{MAX_CUSTOMIZATION_BYTES, MAX_PROFILE_NAME_CHARS, MAX_PROFILE_VALUE_BYTES};
pub(crate) use sessions::{
    check_throttle_key, count_u32, decode_session, session_id_hash, SessionColumns, SessionRow,
};
pub(crate) use users::{
    check_password_hash, decode_user, login_key, storable_login, UserColumns, UserRow,
};

/// `SystemTime` → unix milliseconds. Times before 1970 become negative; sub-millisecond
/// precision is dropped (truncated towards the past).
pub(crate) fn to_millis(t: SystemTime) -> Result<i64, StoreError> {
    let out_of_range = || StoreError::Invalid(format!("time {t:?} is out of range"));
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).map_err(|_| out_of_range()),
        Err(before) => {
            let d = before.duration();
            // Round up so that truncation always goes towards the past.
            let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
            i64::try_from(ms).map(|ms| -ms).map_err(|_| out_of_range())
        }
    }
}

/// Unix milliseconds → `SystemTime`.
pub(crate) fn from_millis(ms: i64) -> Result<SystemTime, StoreError> {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.ok_or_else(|| StoreError::Query(format!("stored time {ms} ms is out of range")))
}

/// PostgreSQL cannot store NUL characters in text (SQLite can); reject them in both so
/// that the backends behave alike and the caller gets a clear answer.
pub(crate) fn check_text(field: &str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{field} contains a NUL character"
        )));
    }
    Ok(())
}

/// JSON detail → text column. NUL characters are rejected for the same reason as in
/// [`check_text`] (PostgreSQL's JSONB refuses `\u0000`).
pub(crate) fn detail_to_text(
    detail: Option<&serde_json::Value>,
) -> Result<Option<String>, StoreError> {
    let Some(v) = detail else { return Ok(None) };
    if json_has_nul(v) {
        return Err(StoreError::Invalid(
            "audit detail contains a NUL character".into(),
        ));
    }
    let text = serde_json::to_string(v)
        .map_err(|e| StoreError::Invalid(format!("audit detail is not serializable: {e}")))?;
    Ok(Some(text))
}

fn json_has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A toggle in column form, validated.
pub(crate) struct ToggleRow<'a> {
    pub service: &'a str,
    pub mode: &'static str,
    pub reason: &'a str,
    pub actor: &'a str,
    pub at_ms: i64,
}

impl<'a> ToggleRow<'a> {
    pub(crate) fn encode(t: &'a Toggle) -> Result<Self, StoreError> {
        check_text("toggle service", &t.service)?;
        check_text("toggle reason", &t.reason)?;
        check_text("toggle actor", &t.actor)?;
        Ok(ToggleRow {
            service: &t.service,
            mode: t.mode.as_str(),
            reason: &t.reason,
            actor: &t.actor,
            at_ms: to_millis(t.at)?,
        })
    }
}

/// Rebuilds a toggle from its columns `(service, mode, reason, actor, at_ms)`.
pub(crate) fn decode_toggle(
    (service, mode, reason, actor, at_ms): (String, String, String, String, i64),
) -> Result<Toggle, StoreError> {
    let mode = ToggleMode::parse(&mode).ok_or_else(|| {
        StoreError::Query(format!(
            "unknown toggle mode {mode:?} stored for {service:?}"
        ))
    })?;
    Ok(Toggle {
        service,
        mode,
        reason,
        actor,
        at: from_millis(at_ms)?,
    })
}

/// An audit entry in column form, validated.
pub(crate) struct AuditRow<'a> {
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub reason: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub detail: Option<String>,
}

impl<'a> AuditRow<'a> {
    pub(crate) fn encode(e: &'a AuditEntry) -> Result<Self, StoreError> {
        check_text("audit actor", &e.actor)?;
        check_text("audit action", &e.action)?;
        check_text("audit target", &e.target)?;
        if let Some(r) = &e.reason {
            check_text("audit reason", r)?;
        }
        if let Some(o) = &e.origin {
            check_text("audit origin", o)?;
        }
        Ok(AuditRow {
            at_ms: to_millis(e.at)?,
            actor: &e.actor,
            action: &e.action,
            target: &e.target,
            reason: e.reason.as_deref(),
            origin: e.origin.as_deref(),
            detail: detail_to_text(e.detail.as_ref())?,
        })
    }
}

/// The audit columns in select order:
/// `(id, at_ms, actor, action, target, reason, origin, detail-as-text)`.
pub(crate) type AuditColumns = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(crate) fn decode_audit(
    (id, at_ms, actor, action, target, reason, origin, detail): AuditColumns,
) -> Result<AuditRecord, StoreError> {
    let detail = detail
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                StoreError::Query(format!("audit entry {id}: stored detail is not JSON: {e}"))
            })
        })
        .transpose()?;
    Ok(AuditRecord {
        id,
        entry: AuditEntry {
            at: from_millis(at_ms)?,
            actor,
            action,
            target,
            reason,
            origin,
            detail,
        },
    })
}

/// A descriptor version as bound to the `descriptor_versions` columns.
pub(crate) struct DescriptorVersionRow<'a> {
    pub at_ms: i64,
    pub actor: &'a str,
    pub origin: &'a str,
    pub reason: &'a str,
    pub summary: &'a str,
    pub snapshot: &'a str,
}

impl<'a> DescriptorVersionRow<'a> {
    pub(crate) fn encode(v: &'a crate::types::NewDescriptorVersion) -> Result<Self, StoreError> {
        for (field, value) in [
            ("actor", v.actor.as_str()),
            ("origin", v.origin.as_str()),
            ("reason", v.reason.as_str()),
            ("summary", v.summary.as_str()),
            ("snapshot", v.snapshot.as_str()),
        ] {
            check_text(field, value)?;
        }
        serde_json::from_str::<serde_json::Value>(&v.snapshot)
            .map_err(|e| StoreError::Invalid(format!("the snapshot is not JSON: {e}")))?;
        for doc in &v.overlay {
            check_text("kind", &doc.kind)?;
            check_text("name", &doc.name)?;
            check_text("body", doc.body.as_deref().unwrap_or_default())?;
        }
        Ok(Self {
            at_ms: to_millis(v.at)?,
            actor: &v.actor,
            origin: &v.origin,
            reason: &v.reason,
            summary: &v.summary,
            snapshot: &v.snapshot,
        })
    }
}

/// `version, at_ms, actor, origin, reason, summary`.
pub(crate) type VersionColumns = (i64, i64, String, String, String, String);

pub(crate) fn decode_descriptor_version(
    (version, at_ms, actor, origin, reason, summary): VersionColumns,
) -> Result<crate::types::DescriptorVersion, StoreError> {
    Ok(crate::types::DescriptorVersion {
        version,
        at: from_millis(at_ms)?,
        actor,
        origin,
        reason,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_and_truncate_towards_the_past() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(to_millis(t).ok(), Some(1_700_000_000_123));
        let before = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(to_millis(before).ok(), Some(-2));
        for ms in [0, 1, -1, 1_700_000_000_123, -86_400_000] {
            let t = from_millis(ms).ok();
            assert_eq!(t.and_then(|t| to_millis(t).ok()), Some(ms));
        }
    }

    #[test]
    fn nul_characters_are_invalid() {
        assert!(matches!(
            check_text("x", "a\0b"),
            Err(StoreError::Invalid(_))
        ));
        let v = serde_json::json!({"k": "a\u{0}b"});
        assert!(matches!(
            detail_to_text(Some(&v)),
            Err(StoreError::Invalid(_))
        ));
        let key = serde_json::json!([{"a\u{0}": 1}]);
        assert!(matches!(
            detail_to_text(Some(&key)),
            Err(StoreError::Invalid(_))
        ));
        let escaped = serde_json::json!({"k": "a\\u0000b is an escaped backslash"});
        assert!(detail_to_text(Some(&escaped)).is_ok());
    }

    #[test]
    fn unknown_mode_is_a_query_error() {
        let r = decode_toggle(("s".into(), "maybe".into(), String::new(), String::new(), 0));
        assert!(matches!(r, Err(StoreError::Query(m)) if m.contains("maybe")));
    }
}
