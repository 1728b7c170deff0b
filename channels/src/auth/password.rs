//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes), on the
//! blocking pool so a sign-in never stalls the request threads.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// A PHC string for `password`.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Whether `password` matches `phc`. With no stored hash (unknown user) a dummy hash is
/// checked all the same, so the answer takes as long either way and reveals nothing.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DUMMY.to_owned());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The argon2id hash of a random password nobody knows.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$e/rD6GCJNUqJ3TfIgNHlgx3KPWfGq5TqN7JcY6qzjJk";
