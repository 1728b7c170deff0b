//! Response helpers shared by the simulated services: content types, error
//! bodies and escaping for the XML and HTML the services write by hand.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const XML: &str = "application/xml; charset=utf-8";
pub const HTML: &str = "text/html; charset=utf-8";

/// A JSON error body `{"error":{"code","message"}}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "code": code, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

/// An XML body with the right content type.
pub fn xml(status: StatusCode, body: String) -> Response {
    with_type(status, XML, body)
}

/// An XML error document `<error code="..">message</error>`.
pub fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error code=\"{}\">{}</error>\n",
        escape(code),
        escape(message)
    );
    xml(status, body)
}

/// An HTML fragment with the right content type.
pub fn html(status: StatusCode, body: String) -> Response {
    with_type(status, HTML, body)
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Escapes text for XML/HTML attribute values and text content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `id` is an acceptable user id: 1..=64 of `[A-Za-z0-9._@-]`.
/// Services answer 400 to anything else rather than echoing it around.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// Splits a comma-separated query value into trimmed, non-empty items.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn validates_user_ids() {
        assert!(valid_user_id("alice"));
        assert!(valid_user_id("a.b-c_d@bank"));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("<script>"));
        assert!(!valid_user_id(&"x".repeat(65)));
    }

    #[test]
    fn splits_lists() {
        assert_eq!(split_list(" SMI, ,DAX,"), vec!["SMI", "DAX"]);
    }
}
