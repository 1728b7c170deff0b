//! `quotes` — JSON price quotes (~25 ms).
//!
//! `GET /quotes?symbols=SMI,DAX,AAPL,NESN` →
//! `{"as_of","quotes":[{"symbol","name","last","change","change_pct","currency"}],"unknown":[..]}`.
//! Quotes come back in the order asked; symbols the service does not know
//! are listed under `unknown` instead of failing the whole watchlist.
//! More than 25 symbols, or none, is a 400.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{iso8601, now_unix};
use crate::market_data::{instrument, quote};
use crate::respond::{json_error, split_list};

/// Why a watchlist would be unreasonably large for one call.
const MAX_SYMBOLS: usize = 25;

#[derive(Debug, Deserialize)]
struct QuotesQuery {
    symbols: Option<String>,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/quotes", get(get_quotes))
}

async fn get_quotes(Query(q): Query<QuotesQuery>) -> Response {
    let symbols = split_list(q.symbols.as_deref().unwrap_or_default());
    if symbols.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid-symbols",
            "no symbols given",
        );
    }
    if symbols.len() > MAX_SYMBOLS {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid-symbols",
            format!("at most {MAX_SYMBOLS} symbols per request"),
        );
    }
    Json(quotes(&symbols, now_unix())).into_response()
}

/// Quotes for `symbols` at `now`.
pub fn quotes(symbols: &[String], now: u64) -> Value {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for s in symbols {
        match instrument(s) {
            Some(i) => {
                let p = quote(i, now);
                found.push(json!({
                    "symbol": i.symbol,
                    "name": i.name,
                    "last": p.last,
                    "change": p.change,
                    "change_pct": p.change_pct,
                    "currency": i.currency,
                }));
            }
            // Echo only short, plain tokens back; anything else is noise.
            None if s.len() <= 12 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') => {
                unknown.push(s.to_ascii_uppercase());
            }
            None => {}
        }
    }
    json!({ "as_of": iso8601(now), "quotes": found, "unknown": unknown })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_json;

    #[tokio::test]
    async fn quotes_in_requested_order() {
        let (status, body) = get_json(router(), "/quotes?symbols=SMI,DAX,AAPL,NESN").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["as_of"].is_string());
        let q = body["quotes"].as_array().expect("quotes");
        let symbols: Vec<&str> = q.iter().filter_map(|x| x["symbol"].as_str()).collect();
        assert_eq!(symbols, ["SMI", "DAX", "AAPL", "NESN"]);
        for x in q {
            assert!(x["name"].is_string() && x["currency"].is_string());
            for key in ["last", "change", "change_pct"] {
                assert!(x[key].is_f64(), "{key}");
            }
        }
    }

    #[tokio::test]
    async fn unknown_symbols_are_reported() {
        let (status, body) = get_json(router(), "/quotes?symbols=nesn,XYZ,%3Cb%3E").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["quotes"][0]["symbol"], "NESN");
        assert_eq!(body["unknown"], json!(["XYZ"]));
    }

    #[tokio::test]
    async fn empty_or_huge_requests_are_rejected() {
        let (status, _) = get_json(router(), "/quotes").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let many = vec!["SMI"; 26].join(",");
        let (status, _) = get_json(router(), &format!("/quotes?symbols={many}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn quotes_drift_with_time() {
        let s = vec!["AAPL".to_owned()];
        let a = quotes(&s, 1_714_564_800);
        let b = quotes(&s, 1_714_564_800 + 120);
        assert_eq!(
            a["quotes"][0]["last"],
            quotes(&s, 1_714_564_800)["quotes"][0]["last"]
        );
        assert_ne!(a["quotes"][0]["last"], b["quotes"][0]["last"]);
    }
}
