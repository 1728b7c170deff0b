//! `markets` — XML market summary (~60 ms).
//!
//! `GET /summary` →
//! ```xml
//! <summary as-of="2024-05-01T12:00:00Z" session="open">
//!   <index symbol="SMI" name="Swiss Market Index" last="11820.5" change="+0.42%" direction="up"/>
//!   <fx pair="EUR/CHF" rate="0.9412" change="-0.05%" direction="down"/>
//!   <commodity name="Gold" unit="USD/oz" last="2345.0" change="+0.30%" direction="up"/>
//!   <commentary>...</commentary>
//! </summary>
//! ```
//! Prices come from the same simulation as the `quotes` service.

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;

use crate::clock::{day_number, is_weekend, iso8601, now_unix, DAY};
use crate::market_data::{
    fx, instrument, price_of, quote, signed_pct, COMMODITIES, FX_PAIRS, SUMMARY_INDICES,
};
use crate::noise::hash;
use crate::respond::{escape, xml};

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/summary", get(get_summary))
}

async fn get_summary() -> Response {
    xml(StatusCode::OK, summary(now_unix()))
}

fn direction(pct: f64) -> &'static str {
    if pct > 0.0 {
        "up"
    } else if pct < 0.0 {
        "down"
    } else {
        "flat"
    }
}

/// Whether Swiss trading hours (09:00–17:30 CET, approximated in UTC) are on.
fn session(now: u64) -> &'static str {
    let secs = now % DAY;
    if is_weekend(day_number(now)) || !(8 * 3600..16 * 3600 + 1800).contains(&secs) {
        "closed"
    } else {
        "open"
    }
}

/// The summary document at `now`.
pub fn summary(now: u64) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<summary as-of=\"{}\" session=\"{}\">",
        iso8601(now),
        session(now)
    );
    let mut smi_pct = 0.0;
    let mut leaders = Vec::new();
    for sym in SUMMARY_INDICES {
        let Some(i) = instrument(sym) else { continue };
        let p = quote(i, now);
        if i.symbol == "SMI" {
            smi_pct = p.change_pct;
        }
        leaders.push((p.change_pct, i.name));
        let _ = writeln!(
            out,
            "  <index symbol=\"{}\" name=\"{}\" last=\"{:.1}\" change=\"{}\" direction=\"{}\"/>",
            escape(i.symbol),
            escape(i.name),
            p.last,
            signed_pct(p.change_pct),
            direction(p.change_pct)
        );
    }
    for (pair, base) in FX_PAIRS {
        let p = fx(pair, *base, now);
        let digits = if pair.ends_with("JPY") { 2 } else { 4 };
        let _ = writeln!(
            out,
            "  <fx pair=\"{}\" rate=\"{:.*}\" change=\"{}\" direction=\"{}\"/>",
            escape(pair),
            digits,
            p.last,
            signed_pct(p.change_pct),
            direction(p.change_pct)
        );
    }
    for (name, unit, base) in COMMODITIES {
        let p = price_of(hash(name), *base, 0.01, now, 1);
        let _ = writeln!(
            out,
            "  <commodity name=\"{}\" unit=\"{}\" last=\"{:.1}\" change=\"{}\" direction=\"{}\"/>",
            escape(name),
            escape(unit),
            p.last,
            signed_pct(p.change_pct),
            direction(p.change_pct)
        );
    }
    leaders.sort_by(|a, b| b.0.total_cmp(&a.0));
    let _ = writeln!(
        out,
        "  <commentary>{}</commentary>",
        escape(&commentary(smi_pct, &leaders, now))
    );
    out.push_str("</summary>\n");
    out
}

/// A short market comment that matches the numbers.
fn commentary(smi_pct: f64, leaders: &[(f64, &str)], now: u64) -> String {
    let open = session(now) == "open";
    let mood = match (smi_pct, open) {
        (p, true) if p > 0.5 => "Swiss equities are trading firmly higher",
        (p, true) if p > 0.0 => "Swiss equities are edging higher",
        (p, true) if p > -0.5 => "Swiss equities are slightly softer",
        (_, true) => "Swiss equities are under pressure",
        (p, false) if p > 0.5 => "Swiss equities closed firmly higher",
        (p, false) if p > 0.0 => "Swiss equities closed a little higher",
        (p, false) if p > -0.5 => "Swiss equities closed slightly softer",
        (_, false) => "Swiss equities closed under pressure",
    };
    let best = leaders.first().map_or("", |l| l.1);
    let worst = leaders.last().map_or("", |l| l.1);
    let closing = if open {
        "Our strategists keep a neutral stance on equities and favour quality defensives."
    } else {
        "Outside Swiss trading hours, prices are after-hours indications."
    };
    format!(
        "{mood} ({}). Among the major indices, the {best} leads while the {worst} lags. {closing}",
        signed_pct(smi_pct)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_raw;

    #[tokio::test]
    async fn serves_xml_summary() {
        let (status, ctype, body) = get_raw(router(), "/summary").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("application/xml"), "{ctype}");
        assert!(body.contains("<summary as-of=\""));
        assert_eq!(body.matches("<index ").count(), SUMMARY_INDICES.len());
        assert_eq!(body.matches("<fx ").count(), FX_PAIRS.len());
        assert!(body.contains("<index symbol=\"SMI\" name=\"Swiss Market Index\""));
        assert!(body.contains("<fx pair=\"EUR/CHF\" rate=\"0."));
        assert_eq!(body.matches("<commentary>").count(), 1);
        assert!(body.trim_end().ends_with("</summary>"));
    }

    #[test]
    fn escapes_names_and_tracks_the_smi() {
        // "S&P 500" must arrive escaped.
        let doc = summary(1_714_564_800);
        assert!(doc.contains("name=\"S&amp;P 500\""));
        assert!(!doc.contains("S&P"));
        assert!(doc.contains("session=\"open\""));
        assert!(summary(1_714_564_800 + 10 * 3600).contains("session=\"closed\""));
    }
}
