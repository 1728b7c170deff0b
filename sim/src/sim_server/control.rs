//! `GET`/`POST /_control`: look at and change a [`super::SimServer`] at runtime.
//!
//! `POST` takes JSON (`{"latency_ms": 40, "mode": "slow"}`) or an HTML form
//! (`latency_ms=40&mode=slow`) so the demo can offer a plain form. Fields left
//! out — or sent empty from a form — keep their value. Input is validated as
//! a whole before anything changes, and bad input is answered with `400` and
//! a message naming the field.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::{Behavior, Mode, Shared};

/// The longest latency or jitter accepted: ten minutes. Longer than any
/// timeout a portal would configure, short enough to catch a unit mistake
/// (seconds typed as microseconds).
const MAX_MS: u64 = 600_000;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/_control", get(show).post(change))
}

/// What `/_control` answers.
#[derive(Debug, Serialize)]
struct ControlState<'a> {
    name: &'a str,
    latency_ms: u128,
    jitter_ms: u128,
    mode: Mode,
    calls: u64,
    in_flight: usize,
    peak_in_flight: usize,
}

fn state_of(shared: &Shared) -> Json<ControlState<'_>> {
    let behavior = shared.behavior();
    Json(ControlState {
        name: &shared.name,
        latency_ms: behavior.latency.as_millis(),
        jitter_ms: behavior.jitter.as_millis(),
        mode: behavior.mode,
        calls: shared.counters.calls(),
        in_flight: shared.counters.in_flight(),
        peak_in_flight: shared.counters.peak_in_flight(),
    })
}

async fn show(State(shared): State<Arc<Shared>>) -> Response {
    state_of(&shared).into_response()
}

async fn change(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let update = match read_update(req).await {
        Ok(update) => update,
        Err(rejected) => return rejected.into_response(),
    };
    {
        let mut behavior = shared
            .behavior
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *behavior = update.apply(*behavior);
    }
    state_of(&shared).into_response()
}

/// A validated change: only the fields that were given.
#[derive(Debug, Default, PartialEq, Eq)]
struct Update {
    latency: Option<Duration>,
    jitter: Option<Duration>,
    mode: Option<Mode>,
}

impl Update {
    fn apply(&self, mut behavior: Behavior) -> Behavior {
        if let Some(latency) = self.latency {
            behavior.latency = latency;
        }
        if let Some(jitter) = self.jitter {
            behavior.jitter = jitter;
        }
        if let Some(mode) = self.mode {
            behavior.mode = mode;
        }
        behavior
    }
}

/// Bad control input, answered as `{"error": "..."}`.
#[derive(Debug, PartialEq, Eq)]
struct Rejected {
    status: StatusCode,
    message: String,
}

impl Rejected {
    fn bad(message: impl Into<String>) -> Self {
        Rejected {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

async fn read_update(req: Request) -> Result<Update, Rejected> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let Json(value) = Json::<Value>::from_request(req, &())
            .await
            .map_err(|e| Rejected::bad(format!("invalid JSON body: {}", e.body_text())))?;
        update_from_json(&value)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, &())
            .await
            .map_err(|e| Rejected::bad(format!("invalid form body: {}", e.body_text())))?;
        update_from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    } else {
        Err(Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "send application/json or application/x-www-form-urlencoded".into(),
        })
    }
}

fn update_from_json(value: &Value) -> Result<Update, Rejected> {
    let Value::Object(fields) = value else {
        return Err(Rejected::bad(
            "expected a JSON object with latency_ms, jitter_ms or mode",
        ));
    };
    let mut texts = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            // Numbers keep their JSON spelling, so 40.5 or -1 fail the
            // whole-number check below with the value the caller sent.
            Value::Number(n) => n.to_string(),
            other => {
                return Err(Rejected::bad(format!(
                    "{key}: expected a number or a string, got {other}"
                )))
            }
        };
        texts.push((key.as_str(), text));
    }
    update_from_pairs(texts.iter().map(|(k, v)| (*k, v.as_str())))
}

fn update_from_pairs<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Update, Rejected> {
    let mut update = Update::default();
    for (key, value) in pairs {
        let value = value.trim();
        // An empty form field means "leave as is".
        if value.is_empty() {
            continue;
        }
        match key {
            "latency_ms" => update.latency = Some(millis(key, value)?),
            "jitter_ms" => update.jitter = Some(millis(key, value)?),
            "mode" => {
                update.mode = Some(
                    value
                        .parse()
                        .map_err(|e| Rejected::bad(format!("mode: {e}")))?,
                )
            }
            other => {
                return Err(Rejected::bad(format!(
                    "{other}: unknown field, expected latency_ms, jitter_ms or mode"
                )))
            }
        }
    }
    Ok(update)
}

fn millis(field: &str, value: &str) -> Result<Duration, Rejected> {
    let ms: u64 = value.parse().map_err(|_| {
        Rejected::bad(format!(
            "{field}: expected a whole number of milliseconds, got {value:?}"
        ))
    })?;
    if ms > MAX_MS {
        return Err(Rejected::bad(format!(
            "{field}: {ms} ms is over the limit of {MAX_MS} ms"
        )));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<Update, Rejected>) -> String {
        result.err().map(|r| r.message).unwrap_or_default()
    }

    #[test]
    fn form_fields_are_validated_and_empty_ones_ignored() {
        let pairs = [("latency_ms", "40"), ("jitter_ms", ""), ("mode", "slow")];
        let update = update_from_pairs(pairs.into_iter()).ok();
        assert_eq!(
            update,
            Some(Update {
                latency: Some(Duration::from_millis(40)),
                jitter: None,
                mode: Some(Mode::Slow),
            })
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(
            message(update_from_pairs([("latency_ms", "fast")].into_iter())),
            r#"latency_ms: expected a whole number of milliseconds, got "fast""#
        );
        assert_eq!(
            message(update_from_pairs([("jitter_ms", "600001")].into_iter())),
            "jitter_ms: 600001 ms is over the limit of 600000 ms"
        );
        assert_eq!(
            message(update_from_pairs([("colour", "red")].into_iter())),
            "colour: unknown field, expected latency_ms, jitter_ms or mode"
        );
        assert_eq!(
            message(update_from_json(&serde_json::json!({"latency_ms": 40.5}))),
            r#"latency_ms: expected a whole number of milliseconds, got "40.5""#
        );
        assert_eq!(
            message(update_from_json(&serde_json::json!({"mode": ["hang"]}))),
            r#"mode: expected a number or a string, got ["hang"]"#
        );
        assert_eq!(
            message(update_from_json(&serde_json::json!([1]))),
            "expected a JSON object with latency_ms, jitter_ms or mode"
        );
    }

    #[test]
    fn the_limit_itself_is_accepted() {
        let update = update_from_json(&serde_json::json!({"latency_ms": 600000})).ok();
        assert_eq!(
            update.and_then(|u| u.latency),
            Some(Duration::from_millis(600_000))
        );
    }
}
