//! `profile` — JSON user profiles (~15 ms).
//!
//! `GET /profile/{user_id}` → `{"user_id","display_name","first_name","segment",
//! "advisor":{"name","phone"},"last_login"}`. `anonymous` gets a guest profile;
//! a malformed id is answered with 400.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::users::{customer, ANONYMOUS};
use crate::clock::{iso8601, now_unix};
use crate::noise::hash;
use crate::respond::{json_error, valid_user_id};

/// The service's routes.
pub fn router() -> Router {
    Router::new().route("/profile/{user_id}", get(get_profile))
}

async fn get_profile(Path(user_id): Path<String>) -> Response {
    if !valid_user_id(&user_id) {
        return json_error(StatusCode::BAD_REQUEST, "invalid-user", "malformed user id");
    }
    Json(profile(&user_id, now_unix())).into_response()
}

/// The profile document of `user_id` at `now`.
pub fn profile(user_id: &str, now: u64) -> Value {
    if user_id == ANONYMOUS {
        return json!({
            "user_id": ANONYMOUS,
            "display_name": "Guest",
            "first_name": "Guest",
            "segment": "retail",
            "advisor": { "name": "Client Service Centre", "phone": "+41 58 555 00 00" },
            "last_login": null,
        });
    }
    let c = customer(user_id);
    // Last login: earlier today, a stable number of minutes before the
    // current hour so it does not change on every request.
    let hour_start = now - now % 3600;
    let last_login = hour_start.saturating_sub(600 + hash(user_id) % 20_000);
    json!({
        "user_id": c.user_id,
        "display_name": c.display_name(),
        "first_name": c.first_name,
        "segment": c.segment,
        "advisor": { "name": c.advisor_name, "phone": c.advisor_phone },
        "last_login": iso8601(last_login),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::test_util::{get_json, get_raw};

    #[tokio::test]
    async fn known_user_profile() {
        let (status, body) = get_json(router(), "/profile/alice").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["display_name"], "Alice Keller");
        assert_eq!(body["first_name"], "Alice");
        assert_eq!(body["segment"], "private");
        assert!(body["advisor"]["name"].is_string());
        assert!(body["advisor"]["phone"].is_string());
        assert!(body["last_login"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')));
    }

    #[tokio::test]
    async fn anonymous_gets_guest() {
        let (status, body) = get_json(router(), "/profile/anonymous").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["display_name"], "Guest");
        assert_eq!(body["user_id"], "anonymous");
        assert!(body["last_login"].is_null());
    }

    #[tokio::test]
    async fn rejects_malformed_ids() {
        let (status, ctype, _) = get_raw(router(), "/profile/%3Cscript%3E").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(ctype.starts_with("application/json"));
    }
}
