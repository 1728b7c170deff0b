//! The values the store keeps. Plain data: no database types leak out of this module.

use std::time::SystemTime;

/// What an operator forced on a backend service, overriding what the breaker decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToggleMode {
    /// The service is switched off: it is not called, fragments get stale data or fallbacks.
    Disabled,
    /// The service's breaker is held open until the operator releases it.
    ForcedClosed,
}

impl ToggleMode {
    /// The stable text form stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            ToggleMode::Disabled => "disabled",
            ToggleMode::ForcedClosed => "forced_closed",
        }
    }

    /// Parses [`ToggleMode::as_str`]'s output; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "disabled" => Some(ToggleMode::Disabled),
            "forced_closed" => Some(ToggleMode::ForcedClosed),
            _ => None,
        }
    }
}

/// An operator toggle on one backend service. At most one per service: putting a toggle
/// for a service replaces the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggle {
    /// Service id, as in the service descriptor.
    pub service: String,
    pub mode: ToggleMode,
    /// Why the operator did it, shown next to the service in the console.
    pub reason: String,
    /// Who did it (operator login).
    pub actor: String,
    /// When it was set. Stored with millisecond precision.
    pub at: SystemTime,
}

/// One audit log entry, as appended. Times are stored with millisecond precision.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: SystemTime,
    /// Who acted (operator login, or a system component such as `"breaker"`).
    pub actor: String,
    /// Dotted action name, e.g. `"service.disable"`.
    pub action: String,
    /// What was acted on, e.g. a service or fragment id.
    pub target: String,
    pub reason: Option<String>,
    /// Client address the action came from, when it came over the network.
    pub origin: Option<String>,
    /// Free-form structured detail (e.g. the previous state).
    pub detail: Option<serde_json::Value>,
}

/// An audit entry as stored, with the id the store gave it. Ids increase with each append
/// and are never reused.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub entry: AuditEntry,
}
