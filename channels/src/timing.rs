//! The `Server-Timing` header of a page: one entry per fragment with how long it took
//! and where its content came from, plus the whole page, so anyone can see in the
//! browser's developer tools why a page was slow
//! (`frag-news.headlines;dur=12.3;desc="backend"`). Switched off with
//! `[observability] server-timing = false`.
//!
//! A streamed page's headers leave before its slow fragments are done. Its header
//! ([`stream_head`]) lists what is known then: the fragments already done, each with its
//! time and source, then `head` (request to headers). Chromium ignores trailers
//! altogether; Firefox shows a `Server-Timing` trailer in its developer tools and says
//! so with `TE: trailers`. So: when the request carries `TE: trailers`, the fragments
//! still pending go into a trailer ([`stream_trailer`]) with their final time and
//! source, plus `page` — header and trailer together list every fragment once, like a
//! buffered page's header. Without it, the header names each pending fragment with
//! `desc="pending"`, so every fragment is still listed (docs/observability.md).

use std::fmt::Write;
use std::time::Duration;

use axum::http::HeaderValue;
use tessera_engine::{Slot, SlotTiming, Timed};
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
    source_of(&Timed::of(r))
}

fn source_of(t: &Timed) -> String {
    match t.status {
        Status::Ok => t.origin.as_str().to_owned(),
        Status::Stale => "stale".to_owned(),
        Status::Minimized | Status::Forbidden => t.status.as_str().to_owned(),
        other => format!(
            "{} ({})",
            t.origin.as_str(),
            t.cause.unwrap_or(other).as_str()
        ),
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64 / 100.0).round() / 10.0
}

fn entry(out: &mut String, fragment: &str, t: &Timed) {
    let _ = write!(
        out,
        "frag-{};dur={};desc=\"{}\", ",
        token(fragment),
        ms(t.elapsed),
        source_of(t)
    );
}

/// `frag-<id>;dur=<ms>;desc="<source>"` per slot, then `page;dur=<ms>`.
pub fn header(slots: &[Slot], page: Duration) -> Option<HeaderValue> {
    let mut out = String::new();
    for s in slots {
        entry(&mut out, &s.result.id, &Timed::of(&s.result));
    }
    let _ = write!(out, "page;dur={}", ms(page));
    HeaderValue::from_str(&out).ok()
}

/// A streamed page's header: the slots done when the status was decided, in page
/// order; the pending ones as `frag-<id>;desc="pending"` unless a trailer will carry
/// them (`trailer`); then `head;dur=<ms>`, the time to the headers.
pub fn stream_head(slots: &[SlotTiming], head: Duration, trailer: bool) -> Option<HeaderValue> {
    let mut out = String::new();
    for s in slots {
        match &s.done {
            Some(t) => entry(&mut out, &s.fragment, t),
            None if !trailer => {
                let _ = write!(out, "frag-{};desc=\"pending\", ", token(&s.fragment));
            }
            None => {}
        }
    }
    let _ = write!(out, "head;dur={}", ms(head));
    HeaderValue::from_str(&out).ok()
}

/// A streamed page's trailer: the slots the header left out (pending then), with their
/// final time and source, then `page;dur=<ms>`. A slot the page never waited for (an
/// in-order layout that does not place it) is `desc="unfinished"`.
pub fn stream_trailer(
    head: &[SlotTiming],
    end: &[SlotTiming],
    page: Duration,
) -> Option<HeaderValue> {
    let mut out = String::new();
    for (before, after) in head.iter().zip(end) {
        if before.done.is_some() {
            continue;
        }
        match &after.done {
            Some(t) => entry(&mut out, &after.fragment, t),
            None => {
                let _ = write!(out, "frag-{};desc=\"unfinished\", ", token(&after.fragment));
            }
        }
    }
    let _ = write!(out, "page;dur={}", ms(page));
    HeaderValue::from_str(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_fragments::Origin;

    #[test]
    fn names_become_tokens() {
        assert_eq!(token("news.headlines"), "news.headlines");
        assert_eq!(token("a b/c\"d"), "a_b_c_d");
        assert_eq!(ms(Duration::from_micros(12_345)), 12.3);
    }

    fn slot(id: &str, done: Option<(u64, Status, Origin)>) -> SlotTiming {
        SlotTiming {
            fragment: id.to_owned(),
            done: done.map(|(ms, status, origin)| Timed {
                elapsed: Duration::from_millis(ms),
                status,
                origin,
                cause: None,
            }),
        }
    }

    #[test]
    fn a_streamed_page_lists_every_fragment_once_across_header_and_trailer() {
        let head = [
            slot("a", Some((1, Status::Ok, Origin::Cache))),
            slot("b", None),
            slot("c", None),
        ];
        let end = [
            head[0].clone(),
            slot("b", Some((250, Status::Ok, Origin::Backend))),
            slot("c", None),
        ];
        let h = |v: Option<HeaderValue>| v.expect("value").to_str().expect("ascii").to_owned();
        assert_eq!(
            h(stream_head(&head, Duration::from_millis(2), true)),
            "frag-a;dur=1;desc=\"cache\", head;dur=2"
        );
        assert_eq!(
            h(stream_head(&head, Duration::from_millis(2), false)),
            "frag-a;dur=1;desc=\"cache\", frag-b;desc=\"pending\", frag-c;desc=\"pending\", head;dur=2"
        );
        assert_eq!(
            h(stream_trailer(&head, &end, Duration::from_millis(260))),
            "frag-b;dur=250;desc=\"backend\", frag-c;desc=\"unfinished\", page;dur=260"
        );
    }
}
