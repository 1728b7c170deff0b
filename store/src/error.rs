//! The store's error type: one variant per failure mode a caller may want to tell apart.

/// Everything that can go wrong in the store.
///
/// Messages never contain a password: URLs are redacted before they are formatted
/// (see [`redact_url`]) and connection errors are scrubbed of the password text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL or settings are wrong (unknown scheme, malformed URL, …).
    /// Retrying will not help; the operator has to fix the configuration.
    #[error("store configuration: {0}")]
    Config(String),
    /// The database cannot be reached (connection refused, pool timed out, I/O error).
    /// Usually transient: callers may retry or degrade.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A statement failed, or a stored row could not be decoded.
    #[error("store query failed: {0}")]
    Query(String),
    /// Applying the embedded schema migrations failed.
    #[error("store migration failed: {0}")]
    Migrate(String),
    /// A value cannot be stored as given (a NUL character in text, a time outside the
    /// representable range). This is bad input, to be answered, not an internal error.
    #[error("invalid value for the store: {0}")]
    Invalid(String),
    /// The value clashes with one already stored (a login taken, ignoring case).
    /// Bad input too: the caller answers it (e.g. "this login is taken").
    #[error("conflict in the store: {0}")]
    Conflict(String),
}

impl StoreError {
    /// Classifies a sqlx error: connection-level problems become [`StoreError::Unavailable`],
    /// configuration problems [`StoreError::Config`], everything else [`StoreError::Query`].
    pub(crate) fn from_sqlx(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match err {
            E::Configuration(e) => StoreError::Config(e.to_string()),
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::Unavailable(err.to_string())
            }
            other => StoreError::Query(other.to_string()),
        }
    }

    /// Like [`StoreError::from_sqlx`], but for writes whose constraint violations are the
    /// caller's doing: a unique violation becomes [`StoreError::Conflict`] with `conflict`,
    /// a foreign-key violation (a user id that does not exist) [`StoreError::Invalid`]
    /// with `missing`.
    pub(crate) fn from_sqlx_write(err: sqlx::Error, conflict: &str, missing: &str) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::Conflict(conflict.to_owned());
            }
            if db.is_foreign_key_violation() {
                return StoreError::Invalid(missing.to_owned());
            }
        }
        StoreError::from_sqlx(err)
    }

    /// Replaces every occurrence of each secret in the message (used while connecting,
    /// when the password from the URL could in principle be echoed by a driver error).
    pub(crate) fn scrub(self, secrets: &[String]) -> Self {
        let clean = |mut m: String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                m = m.replace(secret.as_str(), "***");
            }
            m
        };
        match self {
            StoreError::Config(m) => StoreError::Config(clean(m)),
            StoreError::Unavailable(m) => StoreError::Unavailable(clean(m)),
            StoreError::Query(m) => StoreError::Query(clean(m)),
            StoreError::Migrate(m) => StoreError::Migrate(clean(m)),
            StoreError::Invalid(m) => StoreError::Invalid(clean(m)),
            StoreError::Conflict(m) => StoreError::Conflict(clean(m)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err.to_string())
    }
}

/// Returns `url` with the password (if any) replaced by `***`, for logs and error messages.
///
/// Works on the textual form so that it also redacts URLs that a URL parser would reject.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = scheme_end + 3;
    // The authority ends at the first '/', '?' or '#' after the scheme.
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    let authority = &url[after..authority_end];
    // The userinfo ends at the *last* '@' of the authority (passwords may contain '@'
    // when a client forgot to percent-encode them).
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..after],
        &userinfo[..colon],
        &url[after + at..]
    )
}

/// The password of a `scheme://user:password@host/…` URL, as written and percent-decoded
/// (either form could show up in a driver's message); empty without a password.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let Some(raw) = raw_password(url) else {
        return Vec::new();
    };
    let decoded = percent_decode(raw);
    if decoded == raw {
        vec![decoded]
    } else {
        vec![raw.to_owned(), decoded]
    }
}

fn raw_password(url: &str) -> Option<&str> {
    let after = url.find("://")? + 3;
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    let authority = &url[after..authority_end];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(&userinfo[userinfo.find(':')? + 1..])
}

/// Minimal percent-decoding (no extra dependency for one use); invalid escapes stay as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://tess:s3cr%40t@db.example:5432/tessera?sslmode=disable"),
            "postgres://tess:***@db.example:5432/tessera?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://tess:p@ss@db/x"),
            "postgres://tess:***@db/x"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact_url("sqlite://data/t.db"), "sqlite://data/t.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn extracts_raw_and_decoded_password() {
        assert_eq!(
            url_secrets("postgres://u:s3cr%40t@h/db"),
            ["s3cr%40t", "s3cr@t"]
        );
        assert_eq!(url_secrets("postgres://u:plain@h/db"), ["plain"]);
        assert!(url_secrets("postgres://u@h/db").is_empty());
        assert!(url_secrets("postgres://h/db?x=a:b@c").is_empty());
    }

    #[test]
    fn scrub_removes_secret_from_message() {
        let e = StoreError::Unavailable("bad auth for s3cret".into()).scrub(&["s3cret".into()]);
        assert_eq!(e.to_string(), "store unavailable: bad auth for ***");
    }
}
