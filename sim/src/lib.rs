//! Simulated and scriptable HTTP backends.
//!
//! Tessera aggregates fragments from many backend services; this crate provides
//! stand-ins for those services, always bound to `127.0.0.1:0`:
//!
//! * [`Scripted`] — a backend a test scripts per path: body, status, headers,
//!   delay, hang, trickling body, or a [`Gate`] the test opens. It counts calls,
//!   requests in flight and records every request. Used by the integration tests
//!   of every layer (through `tessera-test-support`).
//! * [`SimServer`] — wraps a realistic [`axum::Router`] with a [`Behavior`]
//!   (latency, jitter, [`Mode`]) that can be changed at runtime through
//!   `GET`/`POST /_control`, and exposes `GET /health`. Used by `tessera demo`
//!   and the benchmark harness.
//!
//! A `SimServer` waits its latency on a [`Clock`]: tokio's timer (millisecond
//! resolution, follows a paused test clock) or a `timerfd` per wait (real time to
//! tens of microseconds, for the benchmark harness).
//!
//! Both share one piece of accounting: [`Counters`] and its tracking middleware.
//!
//! # Layout
//! * `clock` — [`Clock`], what a simulated latency is waited on.
//! * `counters` — call / in-flight / peak counters, request recording, waiting.
//! * `track` — the middleware that feeds [`Counters`] and the in-flight token.
//! * `gate` — [`Gate`], a latch a test opens to release held replies.
//! * `reply` — [`Reply`], the scripted answer builder, and how it is answered.
//! * `scripted` — [`Scripted`], the scriptable backend.
//! * `serve` — binding `127.0.0.1:0` and serving a router in a spawned task.
//! * `sim_server` — [`SimServer`]: `behavior` ([`Behavior`], [`Mode`]), `jitter`
//!   (xorshift PRNG), `faults` (the behaviour middleware and `/health`),
//!   `control` (the `/_control` endpoint).

mod clock;
mod counters;
mod gate;
mod reply;
mod scripted;
mod serve;
mod sim_server;
mod track;

pub use clock::Clock;
pub use counters::{Counters, Recorded};
pub use gate::Gate;
pub use reply::Reply;
pub use scripted::Scripted;
pub use sim_server::{Behavior, Mode, ParseModeError, SimServer};
