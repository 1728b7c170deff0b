//! Users and sessions: identity resolution (session cookie or trusted SSO header),
//! sign-in and sign-out, passwords, CSRF tokens.

pub mod cookies;
pub mod csrf;
pub mod identity;
pub mod known;
pub mod login;
pub mod password;

pub use identity::{identify, is_plain_guest, Identity};
