//! `weather` — XML five-day forecast (~50 ms).
//!
//! `GET /forecast?city=Zurich` →
//! `<forecast city="Zurich" updated=".."><day name="Mon" date=".." high="12" low="4" sky="cloudy" precip="20"/>...</forecast>`.
//! Cities: Zurich, Geneva, Basel, Lugano (case-insensitive); any other city is
//! a 404 `<error code="unknown-city">`. The forecast changes once a day.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::fmt::Write as _;

use crate::clock::{civil_from_days, day_number, iso8601, iso_date, now_unix, weekday, DAY};
use crate::noise::{hash, unit};
use crate::respond::{escape, xml, xml_error};

/// Cities with a forecast and their typical daytime high (°C) by month.
const CITIES: &[(&str, [i32; 12])] = &[
    ("Zurich", [3, 5, 10, 14, 19, 22, 24, 24, 19, 14, 8, 4]),
    ("Geneva", [5, 7, 12, 16, 20, 24, 27, 26, 22, 16, 10, 6]),
    ("Basel", [4, 6, 11, 15, 19, 23, 25, 25, 20, 15, 9, 5]),
    ("Lugano", [7, 9, 14, 17, 21, 26, 28, 27, 23, 18, 12, 8]),
];

const SKIES: &[&str] = &["sunny", "partly-cloudy", "cloudy", "showers", "rain"];

#[derive(Debug, Deserialize)]
struct ForecastQuery {
    city: Option<String>,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/forecast", get(get_forecast))
}

async fn get_forecast(Query(q): Query<ForecastQuery>) -> Response {
    let asked = q.city.as_deref().unwrap_or("Zurich");
    match forecast(asked, now_unix()) {
        Some(doc) => xml(StatusCode::OK, doc),
        None => xml_error(
            StatusCode::NOT_FOUND,
            "unknown-city",
            "no forecast for this city; try Zurich, Geneva, Basel or Lugano",
        ),
    }
}

/// The forecast document for `city` at `now`, or `None` for an unknown city.
pub fn forecast(city: &str, now: u64) -> Option<String> {
    let (name, highs) = CITIES.iter().find(|(c, _)| c.eq_ignore_ascii_case(city))?;
    let today = day_number(now);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<forecast city=\"{}\" updated=\"{}\" unit=\"C\">",
        escape(name),
        iso8601(today * DAY + 5 * 3600)
    );
    for k in 0..5 {
        let day = today + k;
        let (_, month, _) = civil_from_days(day);
        let seed = hash(name) ^ day.wrapping_mul(0x51_7CC1);
        let sky_ix = ((unit(seed ^ 0x5) + 1.0) / 2.0 * SKIES.len() as f64) as usize;
        let sky = SKIES[sky_ix.min(SKIES.len() - 1)];
        // Clouds and rain keep days cooler.
        let high =
            highs[((month - 1) % 12) as usize] + (unit(seed) * 4.0).round() as i32 - sky_ix as i32;
        let low = high - 6 - (unit(seed ^ 0x77).abs() * 4.0).round() as i32;
        let precip = match sky {
            "sunny" => 0,
            "partly-cloudy" => 10,
            "cloudy" => 30,
            "showers" => 60,
            _ => 85,
        };
        let _ = writeln!(
            out,
            "  <day name=\"{}\" date=\"{}\" high=\"{high}\" low=\"{low}\" sky=\"{sky}\" precip=\"{precip}\"/>",
            weekday(day),
            iso_date(day * DAY),
        );
    }
    out.push_str("</forecast>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::get_raw;

    #[tokio::test]
    async fn serves_five_days() {
        let (status, ctype, body) = get_raw(router(), "/forecast?city=Zurich").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("application/xml"), "{ctype}");
        assert!(body.contains("<forecast city=\"Zurich\""));
        assert_eq!(body.matches("<day ").count(), 5);
        assert!(body.trim_end().ends_with("</forecast>"));
    }

    #[tokio::test]
    async fn city_is_case_insensitive_and_checked() {
        let (status, _, body) = get_raw(router(), "/forecast?city=lugano").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("city=\"Lugano\""));
        let (status, ctype, body) = get_raw(router(), "/forecast?city=Atlantis").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(ctype.starts_with("application/xml"));
        assert!(body.contains("<error code=\"unknown-city\">"));
    }

    #[test]
    fn lows_stay_below_highs() {
        for d in 0..400u64 {
            let doc = forecast("Basel", 1_700_000_000 + d * DAY).unwrap_or_default();
            for line in doc.lines().filter(|l| l.contains("<day ")) {
                let num = |attr: &str| -> i32 {
                    let start = line
                        .find(&format!("{attr}=\""))
                        .map_or(0, |i| i + attr.len() + 2);
                    line[start..]
                        .split('"')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(i32::MIN)
                };
                assert!(num("low") < num("high"), "{line}");
            }
        }
    }
}
