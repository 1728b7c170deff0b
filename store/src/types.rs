//! The values the store keeps. Plain data: no database types leak out of this module.

use std::collections::BTreeMap;
use std::fmt;
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

/// A user as the caller creates it. The store gives it an id.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name, unique ignoring case (`Alice` and `alice` are the same login); kept as
    /// typed for display. 1–254 characters (an e-mail address fits), no control characters.
    pub login: String,
    pub display_name: String,
    /// The password hash as a PHC string (`$argon2id$v=19$…`), produced by the caller:
    /// the store never sees a password.
    pub password_hash: String,
    /// Role names, in the caller's order.
    pub roles: Vec<String>,
    /// Audience segment (e.g. `"premium"`), used by pages to pick defaults.
    pub segment: Option<String>,
    /// Access tokens granted to this user on top of those of their roles.
    pub extra_tokens: Vec<String>,
    /// Free-form user attributes (e.g. `"locale" → "fr-CH"`), readable by fragments.
    pub attributes: BTreeMap<String, String>,
    /// Stored with millisecond precision.
    pub created_at: SystemTime,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Given by the store; increases with each creation and is never reused.
    pub id: i64,
    /// The login as it was created (its case preserved).
    pub login: String,
    pub display_name: String,
    /// PHC string produced by the caller (see [`NewUser::password_hash`]).
    pub password_hash: String,
    pub roles: Vec<String>,
    pub segment: Option<String>,
    /// Per-user access-token exceptions (see [`NewUser::extra_tokens`]).
    pub extra_tokens: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: SystemTime,
}

/// Hashes have no place in logs: `Debug` shows everything but the password hash.
fn debug_user(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    id: Option<i64>,
    u: (&str, &str, &[String], Option<&str>, &[String]),
    attributes: &BTreeMap<String, String>,
    created_at: SystemTime,
) -> fmt::Result {
    let (login, display_name, roles, segment, extra_tokens) = u;
    let mut s = f.debug_struct(name);
    if let Some(id) = id {
        s.field("id", &id);
    }
    s.field("login", &login)
        .field("display_name", &display_name)
        .field("password_hash", &"<redacted>")
        .field("roles", &roles)
        .field("segment", &segment)
        .field("extra_tokens", &extra_tokens)
        .field("attributes", attributes)
        .field("created_at", &created_at)
        .finish()
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = (
            self.login.as_str(),
            self.display_name.as_str(),
            self.roles.as_slice(),
            self.segment.as_deref(),
            self.extra_tokens.as_slice(),
        );
        debug_user(f, "NewUser", None, u, &self.attributes, self.created_at)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = (
            self.login.as_str(),
            self.display_name.as_str(),
            self.roles.as_slice(),
            self.segment.as_deref(),
            self.extra_tokens.as_slice(),
        );
        debug_user(
            f,
            "User",
            Some(self.id),
            u,
            &self.attributes,
            self.created_at,
        )
    }
}

/// A server-side session as the caller creates it.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session id the client holds (in its cookie): random, generated by the caller
    /// with enough entropy that it cannot be guessed. The store keeps only its SHA-256.
    pub id: String,
    pub user_id: i64,
    pub created_at: SystemTime,
    /// Absolute expiry: the session is over at this instant, however active it is.
    pub expires_at: SystemTime,
    /// Idle expiry: the session is over at this instant unless
    /// [`Store::touch_session`](crate::Store::touch_session) pushes it back first.
    pub idle_expires_at: SystemTime,
    /// Token that state-changing requests of this session must echo.
    pub csrf_token: String,
}

/// A live session, as [`Store::session`](crate::Store::session) returns it. The id is
/// not part of it: the store does not have it, only its hash; the caller holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    pub idle_expires_at: SystemTime,
    pub csrf_token: String,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("csrf_token", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("csrf_token", &"<redacted>")
            .finish()
    }
}

/// A user's layout of one customizable page: which fragments, where, in which order,
/// minimized or not, with which parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customization {
    /// In display order.
    pub slots: Vec<CustomSlot>,
    /// Stored with millisecond precision.
    pub updated_at: SystemTime,
}

/// One fragment placed on a customized page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomSlot {
    /// Region of the page's layout (e.g. `"main"`).
    pub region: String,
    /// Fragment id (e.g. `"news.headlines"`).
    pub fragment: String,
    pub minimized: bool,
    /// The user's fragment parameters (e.g. `"topics" → "tech,markets"`).
    pub params: BTreeMap<String, String>,
}

/// One entry of the registered descriptor overlay: a document (descriptor or template)
/// that the running set holds instead of the file of the same kind and name, or — with
/// `body` `None` — a file's document the set no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayDoc {
    /// `service`, `fragment`, `page`, `lifecycle` or `template`.
    pub kind: String,
    /// The descriptor id, or the template name.
    pub name: String,
    pub body: Option<String>,
}

/// The registered part of the descriptor set and the version it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredSet {
    /// The newest version; 0 when no version was ever committed.
    pub version: i64,
    pub overlay: Vec<OverlayDoc>,
}

/// A change of the descriptor set, as committed.
#[derive(Debug, Clone)]
pub struct NewDescriptorVersion {
    pub at: SystemTime,
    pub actor: String,
    /// `api`, `files`, `rollback`, `start`.
    pub origin: String,
    pub reason: String,
    /// One line: what changed (`put fragment fx-rates`).
    pub summary: String,
    /// The whole set after the change, as JSON text (the registry's format).
    pub snapshot: String,
    /// The overlay after the change: replaces the stored one.
    pub overlay: Vec<OverlayDoc>,
}

/// A committed version of the descriptor set (without its snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorVersion {
    pub version: i64,
    pub at: SystemTime,
    pub actor: String,
    pub origin: String,
    pub reason: String,
    pub summary: String,
}
