//! Reading and writing the portal's cookies.

use axum::http::{header, HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

/// The session cookie: a random id; the store keeps only its hash.
pub const SESSION: &str = "tessera_session";
/// The login form's double-submit CSRF cookie (there is no session yet to hold a token).
pub const LOGIN_CSRF: &str = "tessera_login_csrf";

/// A cookie's value from the request, if sent (the first one of that name).
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `Set-Cookie` for an HttpOnly, SameSite=Lax cookie on `/`. Lax keeps the cookie off
/// cross-site POSTs (a CSRF defence of its own) while links from e-mails still work.
pub fn set(name: &str, value: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string()).ok()
}

/// `Set-Cookie` that removes a cookie.
pub fn clear(name: &str, secure: bool) -> Option<HeaderValue> {
    set(name, "", 0, secure)
}

/// 32 random bytes, hex-encoded.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system (rand 0.9).
    rand::rng().fill_bytes(&mut bytes);
    crate::trace::hex(&bytes)
}

/// Compares without an early exit, so timing does not reveal a partial match.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
