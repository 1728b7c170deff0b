//! `accounts` — JSON account balances (~80 ms).
//!
//! `GET /accounts/{user_id}` →
//! `{"user_id","as_of","accounts":[{"iban","name","balance","currency","type"}],"total_chf"}`.
//! `anonymous` has no accounts: 404 with a JSON error (the portal shows its
//! sign-in fallback). Balances move a little every day, foreign-currency
//! accounts are converted with the simulated FX rates for `total_chf`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::users::{customer, ANONYMOUS};
use crate::clock::{day_number, iso8601, now_unix};
use crate::market_data::to_chf;
use crate::noise::{hash, round, unit};
use crate::respond::{json_error, valid_user_id};

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/accounts/{user_id}", get(get_accounts))
}

async fn get_accounts(Path(user_id): Path<String>) -> Response {
    if !valid_user_id(&user_id) {
        return json_error(StatusCode::BAD_REQUEST, "invalid-user", "malformed user id");
    }
    if user_id == ANONYMOUS {
        return json_error(
            StatusCode::NOT_FOUND,
            "no-accounts",
            "sign in to see your accounts",
        );
    }
    Json(accounts(&user_id, now_unix())).into_response()
}

/// (name, type, currency, typical balance) per segment.
fn products(segment: &str) -> &'static [(&'static str, &'static str, &'static str, f64)] {
    match segment {
        "private" => &[
            ("Private account", "current", "CHF", 184_250.0),
            ("Investment account", "custody-cash", "CHF", 1_245_800.0),
            ("EUR account", "current", "EUR", 62_400.0),
            ("USD account", "current", "USD", 38_900.0),
        ],
        "premium" => &[
            ("Premium account", "current", "CHF", 42_380.0),
            ("Savings Plus", "savings", "CHF", 96_150.0),
            ("EUR account", "current", "EUR", 8_720.0),
        ],
        _ => &[
            ("Personal account", "current", "CHF", 6_840.0),
            ("Savings account", "savings", "CHF", 24_310.0),
        ],
    }
}

/// The accounts document of `user_id` (not anonymous) at `now`.
pub fn accounts(user_id: &str, now: u64) -> Value {
    let c = customer(user_id);
    let seed = hash(user_id);
    let day = day_number(now);
    let mut total = 0.0;
    let accounts: Vec<Value> = products(c.segment)
        .iter()
        .enumerate()
        .map(|(n, (name, kind, currency, typical))| {
            let s = seed ^ (n as u64 + 1).wrapping_mul(0x9E37);
            // Per-customer level, plus a small daily movement.
            let level = typical * (1.0 + 0.4 * unit(s));
            let balance = round(level * (1.0 + 0.02 * unit(s ^ day)), 2);
            total += balance * to_chf(currency, now);
            json!({
                "iban": iban(s),
                "name": name,
                "balance": balance,
                "currency": currency,
                "type": kind,
            })
        })
        .collect();
    json!({
        "user_id": user_id,
        "as_of": iso8601(now),
        "accounts": accounts,
        "total_chf": round(total, 2),
    })
}

/// A Swiss IBAN with valid check digits, grouped in fours for display.
fn iban(seed: u64) -> String {
    let bank = "80808";
    let account = format!("{:012}", seed % 1_000_000_000_000);
    let bban = format!("{bank}{account}");
    // ISO 13616: BBAN + "CH00" with letters as numbers (C=12, H=17), mod 97.
    let digits = format!("{bban}121700");
    let rem = digits
        .bytes()
        .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
    let plain = format!("CH{:02}{bban}", 98 - rem);
    plain
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_json;

    fn iban_is_valid(iban: &str) -> bool {
        let s: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
        let (head, rest) = s.split_at(4);
        let rearranged = format!("{rest}{head}");
        let mut rem = 0u64;
        for c in rearranged.chars() {
            let Some(v) = c.to_digit(36) else {
                return false;
            };
            for d in v.to_string().bytes() {
                rem = (rem * 10 + u64::from(d - b'0')) % 97;
            }
        }
        rem == 1
    }

    #[tokio::test]
    async fn lists_accounts_with_total() {
        let (status, body) = get_json(router(), "/accounts/alice").await;
        assert_eq!(status, StatusCode::OK);
        let list = body["accounts"].as_array().expect("accounts");
        assert_eq!(list.len(), 4);
        for a in list {
            assert!(
                a["iban"].as_str().is_some_and(iban_is_valid),
                "{}",
                a["iban"]
            );
            assert!(a["name"].is_string() && a["type"].is_string() && a["currency"].is_string());
            assert!(a["balance"].as_f64().is_some_and(|b| b > 0.0));
        }
        let total = body["total_chf"].as_f64().expect("total");
        let chf: f64 = list
            .iter()
            .filter(|a| a["currency"] == "CHF")
            .filter_map(|a| a["balance"].as_f64())
            .sum();
        assert!(total > chf);
    }

    #[tokio::test]
    async fn anonymous_is_not_found() {
        let (status, body) = get_json(router(), "/accounts/anonymous").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "no-accounts");
        let (status, _) = get_json(router(), "/accounts/a%20b").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn ibans_are_valid_for_many_seeds() {
        for s in 0..500u64 {
            assert!(iban_is_valid(&iban(crate::noise::mix(s))));
        }
    }
}
