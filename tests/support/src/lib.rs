//! Shared helpers for Tessera's integration tests.
//!
//! Every layer's tests need the same two things: real backends to call, and a
//! portal folder to load. This crate provides both, so no test hand-rolls a
//! mock server or a fixture tree.
//!
//! * Backends: the [`tessera_sim`] types are re-exported. A [`Scripted`]
//!   backend is a real HTTP server on `127.0.0.1:0`; a test scripts its replies
//!   (body, status, headers, delay, hang, trickle, [`Gate`]) and asserts on its
//!   counters (calls, in flight, peak, recorded requests).
//! * Portal folders: [`PortalDir`] builds a temporary folder with the layout a
//!   portal loads — `config/tessera.toml`, `config/services/*.xml`,
//!   `config/fragments/*.xml`, `config/pages/*.xml` and `templates/**` — with a
//!   minimal working configuration already written.
//! * PostgreSQL: [`TestDatabase`] is a database of its own per test on the test
//!   server (required: never skipped), and [`reqwest`] is re-exported for tests that
//!   talk to nodes on real ports.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use tessera_test_support::{PortalDir, Reply, Scripted};
//!
//! let news = Scripted::start().await;
//! news.route("/headlines", Reply::json(r#"{"items":[]}"#).delay(Duration::from_millis(20)));
//!
//! let portal = PortalDir::new();
//! portal.service("news", &news.url());
//! portal.fragment_xml("headlines", r#"<fragment id="headlines" service="news" path="/headlines"/>"#);
//! portal.page_xml("home", r#"<page id="home"/>"#);
//! portal.template("fragments/headlines.html", "{{ data.items | length }} items");
//!
//! // load the portal from portal.config_dir() / portal.templates_dir(),
//! // request a page, then:
//! assert_eq!(news.calls_to("/headlines"), 1);
//! # }
//! ```
//!
//! Time-dependent tests should run under `#[tokio::test(start_paused = true)]`:
//! reply delays use tokio time, so they elapse instantly and exactly.
//!
//! # Layout
//! * `portal_dir` — [`PortalDir`], the temporary portal folder and its writers.
//! * `postgres` — [`TestDatabase`].

mod portal_dir;
mod postgres;

pub use portal_dir::PortalDir;
pub use postgres::TestDatabase;
pub use reqwest;
pub use tessera_sim::{
    Behavior, Clock, Counters, Gate, Mode, Recorded, Reply, Scripted, SimServer,
};
