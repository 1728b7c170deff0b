//! The `Server-Timing` header of a page: one entry per fragment with how long it took
//! and where its content came from, plus the whole page, so anyone can see in the
//! browser's developer tools why a page was slow
//! (`frag-news.headlines;dur=12.3;desc="backend"`). Switched off with
//! `[observability] server-timing = false`.

use std::fmt::Write;
use std::time::Duration;

use axum::http::HeaderValue;
use tessera_engine::Slot;
use tessera_fragments::{FragmentResult, Status};

/// A metric name for the header: the RFC 9110 token characters kept, others as `_`.
pub fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a fragment's content came from: its origin (`cache`, `backend`, `revalidated`,
/// `stale`, `local`, `fallback`); a failure says which (`fallback (timeout)`); a slot
/// that was not produced says why (`minimized`, `forbidden`).
pub fn source(r: &FragmentResult) -> String {
    match r.status {
        Status::Ok => r.origin.as_str().to_owned(),
        Status::Stale => "stale".to_owned(),
        Status::Minimized | Status::Forbidden => r.status.as_str().to_owned(),
        other => format!(
            "{} ({})",
            r.origin.as_str(),
            r.cause.unwrap_or(other).as_str()
        ),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64 / 100.0).round() / 10.0
}

/// `frag-<id>;dur=<ms>;desc="<source>"` per slot, then `page;dur=<ms>`.
pub fn header(slots: &[Slot], page: Duration) -> Option<HeaderValue> {
    let mut out = String::new();
    for s in slots {
        let _ = write!(
            out,
            "frag-{};dur={};desc=\"{}\", ",
            token(&s.result.id),
            ms(s.result.elapsed),
            source(&s.result)
        );
    }
    let _ = write!(out, "page;dur={}", ms(page));
    HeaderValue::from_str(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_tokens() {
        assert_eq!(token("news.headlines"), "news.headlines");
        assert_eq!(token("a b/c\"d"), "a_b_c_d");
        assert_eq!(ms(Duration::from_micros(12_345)), 12.3);
    }
}
