//! One module per simulated backend service of the demo bank. Each exposes
//! `pub fn router() -> axum::Router` plus the pure function (taking `now`)
//! that builds its documents, so tests can pin the time.

pub mod accounts;
pub mod markets;
pub mod news;
pub mod offers;
pub mod profile;
pub mod quotes;
pub mod research;
pub mod weather;

mod users;

#[cfg(test)]
mod test_util;
