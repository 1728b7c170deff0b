//! `research` — ready-made HTML (~120 ms).
//!
//! `GET /teaser?limit=3` → a `text/html` fragment
//! `<ul class="research-list"><li><a href="..">title</a><span class="meta">..</span></li>...</ul>`
//! that the portal embeds as is, the way ESI includes a fragment. The
//! selection rotates daily; `limit` is clamped to 1..=10.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::fmt::Write as _;

use crate::clock::{civil_from_days, day_number, now_unix};
use crate::respond::{escape, html};

struct Note {
    id: &'static str,
    kind: &'static str,
    title: &'static str,
    author: &'static str,
    rating: Option<&'static str>,
}

const NOTES: &[Note] = &[
    Note {
        id: "r-2401",
        kind: "Equity",
        title: "Nestlé: pricing power meets volume recovery",
        author: "A. Meier",
        rating: Some("Buy"),
    },
    Note {
        id: "r-2402",
        kind: "Strategy",
        title: "House view: staying selective in a late-cycle market",
        author: "Chief Investment Office",
        rating: None,
    },
    Note {
        id: "r-2403",
        kind: "Fixed income",
        title: "Swiss franc bonds: where duration still pays",
        author: "L. Favre",
        rating: None,
    },
    Note {
        id: "r-2404",
        kind: "Equity",
        title: "Roche: pipeline catalysts in the second half",
        author: "P. Huber",
        rating: Some("Hold"),
    },
    Note {
        id: "r-2405",
        kind: "FX",
        title: "EUR/CHF: why the franc stays strong",
        author: "S. Dubois",
        rating: None,
    },
    Note {
        id: "r-2406",
        kind: "Equity",
        title: "Semiconductors: AI demand is not a bubble — yet",
        author: "M. Chen",
        rating: Some("Overweight"),
    },
    Note {
        id: "r-2407",
        kind: "Real estate",
        title: "Swiss residential: rents up, vacancies down",
        author: "R. Gerber",
        rating: None,
    },
    Note {
        id: "r-2408",
        kind: "Sustainability",
        title: "Transition bonds & the path to net zero",
        author: "E. Steiner",
        rating: None,
    },
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[derive(Debug, Deserialize)]
struct TeaserQuery {
    limit: Option<String>,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/teaser", get(get_teaser))
}

async fn get_teaser(Query(q): Query<TeaserQuery>) -> Response {
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 3,
        Some(Ok(n)) => n.clamp(1, 10),
        Some(Err(_)) => {
            return html(
                StatusCode::BAD_REQUEST,
                "<p class=\"error\">limit must be a number</p>".to_owned(),
            )
        }
    };
    html(StatusCode::OK, teaser(limit, now_unix()))
}

/// The teaser markup with `limit` notes at `now`.
pub fn teaser(limit: usize, now: u64) -> String {
    let today = day_number(now);
    let start = (today % NOTES.len() as u64) as usize;
    let mut out = String::from("<ul class=\"research-list\">\n");
    for k in 0..limit.min(NOTES.len()) {
        let n = &NOTES[(start + k) % NOTES.len()];
        // Newest first: one note per working day or so.
        let (_, m, d) = civil_from_days(today.saturating_sub(k as u64 * 2));
        let month = MONTHS[((m - 1) % 12) as usize];
        let rating = n
            .rating
            .map(|r| format!(" <span class=\"rating\">{}</span>", escape(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  <li><a href=\"#{id}\">{title}</a>{rating}<span class=\"meta\">{kind} · {author} · {d} {month}</span></li>",
            id = escape(n.id),
            title = escape(n.title),
            kind = escape(n.kind),
            author = escape(n.author),
        );
    }
    out.push_str("</ul>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_raw;

    #[tokio::test]
    async fn serves_html_fragment() {
        let (status, ctype, body) = get_raw(router(), "/teaser?limit=3").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(body.starts_with("<ul class=\"research-list\">"));
        assert_eq!(body.matches("<li>").count(), 3);
        assert_eq!(body.matches("<span class=\"meta\">").count(), 3);
        assert!(!body.contains("<html"), "a fragment, not a document");
    }

    #[tokio::test]
    async fn clamps_and_validates_limit() {
        let (_, _, body) = get_raw(router(), "/teaser?limit=99").await;
        assert_eq!(body.matches("<li>").count(), NOTES.len());
        let (status, _, _) = get_raw(router(), "/teaser?limit=x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn escapes_titles_and_rotates_daily() {
        let all = teaser(10, 1_714_564_800);
        assert!(all.contains("Transition bonds &amp; the path"));
        assert_ne!(teaser(1, 1_714_564_800), teaser(1, 1_714_564_800 + 86_400));
    }
}
