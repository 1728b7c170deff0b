//! The shipped demo portal's simulated backends: the services of a small
//! private bank ("Tessera Private Bank"), each a realistic [`axum::Router`]
//! run behind a [`tessera_sim::SimServer`] on a loopback port.
//!
//! The data is deterministic but lively: quotes drift minute by minute,
//! headlines age, forecasts and balances change daily — all derived from the
//! clock with a tiny xorshift, so two runs at the same instant agree.
//! [`start_all`] starts every service; [`DemoBackends::overrides`] gives the
//! `(service id, base url)` pairs that replace the placeholder base URLs of
//! the shipped descriptors in `config/services/`.
//!
//! | id | format | latency | routes |
//! |----|--------|---------|--------|
//! | `profile` | JSON | 15 ms | `GET /profile/{user_id}` |
//! | `news` | JSON | 40 ms | `GET /headlines?topics=..&limit=..` |
//! | `quotes` | JSON | 25 ms | `GET /quotes?symbols=..` |
//! | `markets` | XML | 60 ms | `GET /summary` |
//! | `research` | HTML | 120 ms | `GET /teaser?limit=..` |
//! | `accounts` | JSON | 80 ms | `GET /accounts/{user_id}` |
//! | `weather` | XML | 50 ms | `GET /forecast?city=..` |
//! | `offers` | JSON | 30 ms | `GET /offers?segment=..` |
//!
//! # Layout
//! * `backends` — the service catalogue ([`SERVICES`]), [`start_all`] and
//!   [`DemoBackends`].
//! * `services` — one module per simulated service (`profile`, `news`,
//!   `quotes`, `markets`, `research`, `accounts`, `weather`, `offers`) and
//!   `users`, the bank's customers.
//! * `market_data` — simulated prices and FX rates shared by `quotes` and
//!   `markets`.
//! * `clock` — Unix time, ISO-8601 formatting and weekdays without a date crate.
//! * `noise` — the deterministic xorshift noise behind the lively data.
//! * `respond` — content types, error bodies, escaping.

mod backends;
mod clock;
mod market_data;
mod noise;
mod respond;
pub mod services;

pub use backends::{start_all, DemoBackends, ServiceSpec, SERVICES};
