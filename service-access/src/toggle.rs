//! Operator toggles: a service can be disabled (with a reason; who and when are kept),
//! forced closed (calls go through whatever its breaker says), or enabled (the breaker
//! decides). Persisting toggles is the caller's business (the store); this is the
//! in-memory switch every call reads.

use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Toggle {
    /// The breaker decides.
    Enabled,
    /// Not called at all until an operator enables it again.
    Disabled {
        reason: String,
        actor: String,
        #[serde(with = "unix_ms")]
        at: SystemTime,
    },
    /// Called whatever the breaker says (it still counts outcomes).
    ForcedClosed {
        reason: String,
        actor: String,
        #[serde(with = "unix_ms")]
        at: SystemTime,
    },
}

/// The service is disabled by an operator; the call was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("disabled by an operator: {reason}")]
pub struct ServiceDisabled {
    pub reason: String,
}

pub(crate) mod unix_ms {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        s.serialize_u64(ms)
    }
}
