//! [`Behavior`] and [`Mode`]: how a [`super::SimServer`] misbehaves.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a simulated service answers its data calls. Serialized the way the
/// control endpoint shows it: `{"latency_ms":40,"jitter_ms":10,"mode":"normal"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behavior {
    /// Added before every data answer.
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// The latency varies uniformly within ±`jitter`.
    #[serde(rename = "jitter_ms", with = "millis")]
    pub jitter: Duration,
    /// What kind of answer is given.
    pub mode: Mode,
}

/// The failure a simulated service plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answers from the wrapped router.
    #[default]
    Normal,
    /// Answers `500` with a JSON error body.
    Error,
    /// Never answers.
    Hang,
    /// Answers `200` with the route's content type but a truncated,
    /// unparseable body.
    Garbage,
    /// Like normal, with ten times the latency.
    Slow,
}

impl Mode {
    /// Every mode, in the order shown to users.
    pub const ALL: [Mode; 5] = [
        Mode::Normal,
        Mode::Error,
        Mode::Hang,
        Mode::Garbage,
        Mode::Slow,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Error => "error",
            Mode::Hang => "hang",
            Mode::Garbage => "garbage",
            Mode::Slow => "slow",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not one of [`Mode::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseModeError(pub String);

impl fmt::Display for ParseModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown mode {:?}, expected one of normal, error, hang, garbage, slow",
            self.0
        )
    }
}

impl std::error::Error for ParseModeError {}

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| ParseModeError(s.to_owned()))
    }
}

/// Durations as whole milliseconds, the unit of the control endpoint.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_the_control_endpoint() {
        let b = Behavior {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            mode: Mode::Garbage,
        };
        let json = serde_json::to_string(&b).unwrap_or_default();
        assert_eq!(json, r#"{"latency_ms":40,"jitter_ms":10,"mode":"garbage"}"#);
        let back: Behavior = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, b);
    }

    #[test]
    fn mode_names_round_trip_and_unknown_is_named() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
        }
        let err = "flaky".parse::<Mode>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"unknown mode "flaky", expected one of normal, error, hang, garbage, slow"#)
        );
    }
}
