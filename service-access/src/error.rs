//! Call failures, one small type per failure mode so callers and tests can match on them.

use std::time::Duration;

/// The call did not complete within the service's timeout (connect to last body byte).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no answer within {}", tessera_descriptors::format_duration(*.0))]
pub struct Elapsed(pub Duration);

/// The backend answered with a status other than 2xx (or 304 to a conditional request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the backend answered HTTP {status}")]
pub struct BadStatus {
    pub status: u16,
    /// `Location` of a redirect (3xx); a page's primary fragment passes it on.
    pub location: Option<String>,
}

/// The body was larger than the configured cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the backend's answer is larger than the {limit}-byte limit")]
pub struct BodyTooLarge {
    pub limit: usize,
}

/// Connecting, sending or receiving failed below HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Transport(pub String);

/// Why a call to a backend service produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("unknown service \"{0}\"")]
    UnknownService(String),
    #[error(transparent)]
    Timeout(#[from] Elapsed),
    #[error(transparent)]
    Status(#[from] BadStatus),
    #[error(transparent)]
    TooLarge(#[from] BodyTooLarge),
    #[error("cannot reach the backend: {0}")]
    Connect(Transport),
    #[error("the exchange with the backend failed: {0}")]
    Transport(Transport),
    #[error(transparent)]
    Disabled(#[from] crate::toggle::ServiceDisabled),
    #[error(transparent)]
    BreakerOpen(#[from] crate::breaker::BreakerOpen),
    #[error(transparent)]
    Overloaded(#[from] crate::limit::Overloaded),
}

impl CallError {
    /// A short word for logs, metrics and result objects.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownService(_) => "unknown_service",
            Self::Timeout(_) => "timeout",
            Self::Status(_) => "status",
            Self::TooLarge(_) => "too_large",
            Self::Connect(_) => "connect",
            Self::Transport(_) => "transport",
            Self::Disabled(_) => "disabled",
            Self::BreakerOpen(_) => "breaker_open",
            Self::Overloaded(_) => "overloaded",
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// The call was not made because it could not help (disabled, breaker open, full).
    pub fn not_attempted(&self) -> bool {
        matches!(
            self,
            Self::Disabled(_) | Self::BreakerOpen(_) | Self::Overloaded(_)
        )
    }
}
