//! `offers` — JSON product offers per client segment (~30 ms).
//!
//! `GET /offers?segment=retail` →
//! `{"segment","offers":[{"id","kind","title","text","highlight","cta":{"label","href"}}]}`.
//! Segments: `retail` (default), `premium`, `private`; anything else is a 400.
//! Rates follow the simulated market a little, so offers move week by week.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{day_number, now_unix};
use crate::noise::unit;

/// Segments the service knows.
pub const SEGMENTS: &[&str] = &["retail", "premium", "private"];

#[derive(Debug, Deserialize)]
struct OffersQuery {
    segment: Option<String>,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/offers", get(get_offers))
}

async fn get_offers(Query(q): Query<OffersQuery>) -> Response {
    let segment = q.segment.as_deref().unwrap_or("retail");
    match offers(segment, now_unix()) {
        Some(doc) => Json(doc).into_response(),
        None => crate::respond::json_error(
            StatusCode::BAD_REQUEST,
            "invalid-segment",
            format!("unknown segment; known segments: {}", SEGMENTS.join(", ")),
        ),
    }
}

fn offer(id: &str, kind: &str, title: &str, text: String, highlight: String, cta: &str) -> Value {
    json!({
        "id": id,
        "kind": kind,
        "title": title,
        "text": text,
        "highlight": highlight,
        "cta": { "label": cta, "href": format!("#offer-{id}") },
    })
}

/// Offers for `segment` at `now`, or `None` for an unknown segment.
pub fn offers(segment: &str, now: u64) -> Option<Value> {
    if !SEGMENTS.contains(&segment) {
        return None;
    }
    let week = day_number(now) / 7;
    // Rates move in steps of 5 basis points from week to week.
    let step = |base: f64, seed: u64| base + (unit(week ^ seed) * 3.0).round() * 0.05;
    let mortgage = step(1.45, 0x11);
    let savings = step(1.10, 0x22);
    let list = match segment {
        "retail" => vec![
            offer("mortgage-saron", "mortgage", "SARON Flex mortgage",
                "Finance your home with a flexible mortgage tied to the Swiss reference rate.".into(),
                format!("from {mortgage:.2}% p.a."), "Calculate your mortgage"),
            offer("savings-plus", "savings", "Savings Plus account",
                "Put money aside with a preferential interest rate and free withdrawals up to CHF 25,000 a year.".into(),
                format!("{savings:.2}% interest"), "Open an account"),
            offer("card-gold", "card", "Tessera Visa Gold",
                "Travel insurance, airport lounges and cashback on every purchase abroad.".into(),
                "No annual fee in the first year".into(), "Apply now"),
        ],
        "premium" => vec![
            offer("invest-plan", "investment", "Fund savings plan",
                "Invest regularly from CHF 100 a month in our sustainable strategy funds.".into(),
                "0% issue commission until month end".into(), "Start a plan"),
            offer("mortgage-fixed", "mortgage", "10-year fixed mortgage",
                "Lock in today's rates and plan your home costs with certainty.".into(),
                format!("from {:.2}% p.a.", mortgage + 0.35), "Request an offer"),
            offer("card-platinum", "card", "Tessera Mastercard Platinum",
                "Concierge service, premium travel cover and 24/7 support worldwide.".into(),
                "Bonus of 10,000 points".into(), "Apply now"),
        ],
        _ => vec![
            offer("mandate", "investment", "Discretionary mandate",
                "Let our Chief Investment Office manage your portfolio in line with your goals and values.".into(),
                "Personal review with your advisor".into(), "Book a meeting"),
            offer("lombard", "credit", "Lombard loan",
                "Unlock liquidity against your securities portfolio without selling.".into(),
                format!("from {:.2}% p.a.", mortgage + 0.15), "Learn more"),
            offer("succession", "advice", "Succession planning",
                "Protect what you have built: estate, pension and tax planning from one source.".into(),
                "Free initial consultation".into(), "Arrange a call"),
        ],
    };
    Some(json!({ "segment": segment, "offers": list }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_json;

    #[tokio::test]
    async fn offers_per_segment() {
        for seg in SEGMENTS {
            let (status, body) = get_json(router(), &format!("/offers?segment={seg}")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["segment"], *seg);
            let list = body["offers"].as_array().expect("offers");
            assert_eq!(list.len(), 3);
            for o in list {
                for key in ["id", "kind", "title", "text", "highlight"] {
                    assert!(o[key].is_string(), "{key}");
                }
                assert!(o["cta"]["label"].is_string() && o["cta"]["href"].is_string());
            }
        }
    }

    #[tokio::test]
    async fn retail_has_mortgage_savings_and_card() {
        let (_, body) = get_json(router(), "/offers").await;
        let kinds: Vec<&str> = body["offers"]
            .as_array()
            .map(|l| l.iter().filter_map(|o| o["kind"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kinds, ["mortgage", "savings", "card"]);
    }

    #[tokio::test]
    async fn unknown_segment_is_rejected() {
        let (status, body) = get_json(router(), "/offers?segment=vip").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid-segment");
    }
}
