//! The breaker's one failure mode, and the duration wording it shares with transition
//! causes.

use std::time::Duration;

/// The breaker refused the call: the backend was not contacted at all.
///
/// `retry_in` is how long until the breaker will let a probe through. It is zero when the
/// breaker is half-open and every probe slot is taken: the next chance comes as soon as a
/// running probe finishes, which no clock can predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*retry_in))]
pub struct BreakerOpen {
    pub retry_in: Duration,
}

fn describe(retry_in: Duration) -> String {
    if retry_in.is_zero() {
        "circuit breaker half-open; all probe slots are in use".to_owned()
    } else {
        format!("circuit breaker open; next probe in {}", human(retry_in))
    }
}

/// A duration as an operator reads it: `250ms`, `1.2s`, `5s`, `1m30s`.
///
/// Sub-millisecond remainders round *up*, so a refusal never says "next probe in 0ms"
/// while it is still refusing. Between one second and one minute we show tenths, because
/// "1s" for 1.9s would send a retry too early; above a minute whole seconds are plenty.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = u64::try_from((ms + 500) / 1_000).unwrap_or(u64::MAX);
    tessera_descriptors::format_duration(Duration::from_secs(secs))
}

/// A rate in `0.0..=1.0` as a percentage: `50%`, `12.5%`.
pub(crate) fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}
