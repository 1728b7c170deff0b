//! `news` — JSON headlines (~40 ms).
//!
//! `GET /headlines?topics=world,markets&limit=5` →
//! `{"as_of","items":[{"id","title","summary","topic","published","url"}]}`,
//! newest first. Topics: `world`, `markets`, `tech`, `economy` (default
//! `world,markets`; an unknown topic is a 400). `limit` is clamped to 1..=20.
//!
//! Every answer carries `Surrogate-Key: news news:<id> ...` so the portal can
//! tie cached stages to articles, plus an `ETag`; a matching `If-None-Match`
//! gets a 304 (the portal revalidates expired source stages that way).

use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{iso8601, now_unix};
use crate::noise::hash;
use crate::respond::{json_error, split_list};

/// Topics the service knows.
pub const TOPICS: &[&str] = &["world", "markets", "tech", "economy"];

struct Article {
    id: u32,
    topic: &'static str,
    title: &'static str,
    summary: &'static str,
    /// Minutes before the current half hour that the article appeared.
    age_min: u64,
}

const fn a(
    id: u32,
    topic: &'static str,
    age_min: u64,
    title: &'static str,
    summary: &'static str,
) -> Article {
    Article {
        id,
        topic,
        title,
        summary,
        age_min,
    }
}

const ARTICLES: &[Article] = &[
    a(4101, "markets", 12, "Swiss equities edge higher as defensives lead", "Nestlé and Roche lift the SMI while cyclical names lag; trading volumes stay below the monthly average."),
    a(4102, "economy", 25, "SNB signals patience on further rate moves", "The Swiss National Bank sees inflation within its target band and keeps its options open for the next assessment."),
    a(4103, "world", 38, "EU and Switzerland agree on next steps in bilateral talks", "Negotiators set a timetable for the remaining chapters, including electricity and research cooperation."),
    a(4104, "tech", 51, "Chipmakers rally on strong data-centre demand", "Orders for AI accelerators keep outpacing supply, lifting semiconductor stocks on both sides of the Atlantic."),
    a(4105, "markets", 64, "Franc steady against the euro ahead of ECB meeting", "Currency traders hold positions as markets price in a cautious tone from Frankfurt."),
    a(4106, "world", 83, "G20 finance ministers focus on debt relief", "Ministers discuss a common framework for low-income countries facing rising refinancing costs."),
    a(4107, "economy", 97, "Swiss consumer sentiment improves for third month", "Households are more optimistic about their finances, though big-ticket purchases remain subdued."),
    a(4108, "tech", 118, "Zurich fintech start-up raises CHF 40 million", "The payments company plans to expand into Germany and Austria and double its engineering team."),
    a(4109, "markets", 141, "Bond yields slip as investors seek safety", "Ten-year Confederation bond yields fall to their lowest level in six weeks."),
    a(4110, "world", 166, "Alpine tourism sets a new spring record", "Hotels report strong bookings from visitors from North America and Asia."),
    a(4111, "economy", 190, "Eurozone manufacturing shows signs of stabilising", "Purchasing managers report fewer job cuts and a slower decline in new orders."),
    a(4112, "tech", 225, "Regulators publish draft rules for AI in financial advice", "The consultation covers transparency duties and human oversight for automated recommendations."),
    a(4113, "markets", 260, "Gold hovers near record as central banks keep buying", "Official-sector demand and geopolitical uncertainty support the precious metal."),
    a(4114, "world", 300, "Rhine water levels recover after spring rainfall", "Barge operators lift surcharges as shipping capacity returns to normal."),
    a(4115, "economy", 340, "US jobs report beats expectations", "Payrolls rose more than forecast, while wage growth eased slightly."),
    a(4116, "tech", 395, "Quantum computing research centre opens in Basel", "Universities and industry partners pool funds for a new laboratory on the Rhine."),
];

#[derive(Debug, Deserialize)]
struct HeadlinesQuery {
    topics: Option<String>,
    limit: Option<String>,
}

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/headlines", get(get_headlines))
}

async fn get_headlines(Query(q): Query<HeadlinesQuery>, headers: HeaderMap) -> Response {
    let topics = match q.topics.as_deref().map(split_list) {
        None => vec!["world".to_owned(), "markets".to_owned()],
        Some(t) if t.is_empty() => {
            return json_error(StatusCode::BAD_REQUEST, "invalid-topics", "no topic given")
        }
        Some(t) => t,
    };
    if let Some(bad) = topics.iter().find(|t| !TOPICS.contains(&t.as_str())) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid-topics",
            format!("unknown topic '{bad}'; known topics: {}", TOPICS.join(", ")),
        );
    }
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 5,
        Some(Ok(n)) => n.clamp(1, 20),
        Some(Err(_)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid-limit",
                "limit must be a number",
            )
        }
    };
    respond(headlines(&topics, limit, now_unix()), &headers)
}

/// Answers `body` with its validators and surrogate keys, or 304 when the
/// request's `If-None-Match` already names its ETag.
fn respond(body: Value, headers: &HeaderMap) -> Response {
    let text = body.to_string();
    let etag = format!("\"{:016x}\"", hash(&text));
    let keys = surrogate_keys(&body);

    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(body).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&keys) {
        h.insert("surrogate-key", v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    res
}

/// Headlines for `topics` at `now`, newest first, at most `limit`.
pub fn headlines(topics: &[String], limit: usize, now: u64) -> Value {
    // Articles age in half-hour steps so the list (and its ETag) is stable
    // for a while, like a real newsroom feed.
    let anchor = now - now % 1800;
    let mut items: Vec<&Article> = ARTICLES
        .iter()
        .filter(|a| topics.iter().any(|t| t == a.topic))
        .collect();
    items.sort_by_key(|a| a.age_min);
    let items: Vec<Value> = items
        .into_iter()
        .take(limit)
        .map(|a| {
            json!({
                "id": a.id.to_string(),
                "title": a.title,
                "summary": a.summary,
                "topic": a.topic,
                "published": iso8601(anchor.saturating_sub(a.age_min * 60)),
                "url": format!("https://news.tessera-bank.example/articles/{}", a.id),
            })
        })
        .collect();
    json!({ "as_of": iso8601(anchor), "items": items })
}

/// `news news:<id> ...` for the items of a headlines document.
fn surrogate_keys(body: &Value) -> String {
    let mut keys = vec!["news".to_owned()];
    if let Some(items) = body["items"].as_array() {
        keys.extend(
            items
                .iter()
                .filter_map(|i| i["id"].as_str())
                .map(|id| format!("news:{id}")),
        );
    }
    keys.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::{get_json, get_raw};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn filters_by_topic_and_limits() {
        let (status, body) = get_json(router(), "/headlines?topics=tech,economy&limit=3").await;
        assert_eq!(status, StatusCode::OK);
        let items = body["items"].as_array().expect("items");
        assert_eq!(items.len(), 3);
        for i in items {
            assert!(matches!(i["topic"].as_str(), Some("tech" | "economy")));
            for key in ["id", "title", "summary", "published", "url"] {
                assert!(i[key].is_string(), "{key}");
            }
        }
        let published: Vec<&str> = items
            .iter()
            .filter_map(|i| i["published"].as_str())
            .collect();
        assert!(published.windows(2).all(|w| w[0] >= w[1]), "newest first");
    }

    #[tokio::test]
    async fn defaults_and_surrogate_keys() {
        let req = Request::get("/headlines")
            .body(Body::empty())
            .expect("request");
        let res = router().oneshot(req).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let keys = res.headers()["surrogate-key"].to_str().expect("ascii");
        assert!(keys.starts_with("news news:"), "{keys}");
        assert_eq!(keys.split(' ').count(), 6);
        assert!(res.headers().contains_key(header::ETAG));
    }

    #[test]
    fn revalidation_answers_304() {
        let doc = || headlines(&["world".to_owned()], 5, 1_714_564_800);
        let first = respond(doc(), &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, etag.clone());
        let second = respond(doc(), &conditional);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::ETAG], etag);
        // A later half hour ages the articles: new ETag, full answer.
        let later = respond(
            headlines(&["world".to_owned()], 5, 1_714_566_600),
            &conditional,
        );
        assert_eq!(later.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn rejects_unknown_topics_and_bad_limits() {
        let (status, body) = get_json(router(), "/headlines?topics=sports").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid-topics");
        let (status, _, _) = get_raw(router(), "/headlines?limit=many").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn limit_is_respected_for_all_topics() {
        let all: Vec<String> = TOPICS.iter().map(|t| (*t).to_owned()).collect();
        let doc = headlines(&all, 20, 1_714_564_800);
        assert_eq!(doc["items"].as_array().map(Vec::len), Some(ARTICLES.len()));
    }
}
