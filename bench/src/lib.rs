//! Tessera's load harness: the benchmark portal served by a real Tessera node, next to
//! a static baseline serving the same page bytes through the same HTTP stack, both
//! driven by `wrk` on loopback for a few seconds each. Results are Markdown: one row
//! per measured run, one row per target with its verdict.
//!
//! Everything runs in this one process (the node, its simulated backends, the static
//! baseline) except wrk. On a small machine wrk and the server share the cores, so the
//! numbers that mean something are ratios between runs of the same invocation.
//!
//! Layout:
//! - `scenario` — the scenarios by name, what each needs, and each one's steps
//!   (`scenario/*.rs`, one file per scenario)
//! - `context` — what a run accumulates: measured runs, target checks, notes
//! - `wrk` — installing wrk, running it bounded in time, parsing its report
//! - `ttfb` — the harness's own client for time to first and last byte (S4)
//! - `portal` — the generated benchmark portal (eight fragments, ~3 KB each)
//! - `page` — the portal brought up with its backends and a node
//! - `node` — the servers under load: a Tessera node, the static baseline
//! - `child` — a Tessera node in a process of its own (the memory scenario), its
//!   resident memory
//! - `probe` — the harness's own requests: a page, the admin API, breaker warm-up
//! - `check` — checking a rendered page's slots
//! - `report` — the Markdown tables
//! - `machine` — what the run ran on

pub mod check;
pub mod child;
pub mod context;
pub mod cpu;
pub mod machine;
pub mod node;
pub mod page;
pub mod portal;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod ttfb;
pub mod wrk;

use std::time::Duration;

pub use context::{Check, Context, Measurement, MemoryRun, Options, StreamSummary};
pub use scenario::ScenarioId;

/// Why a scenario could not be run (as opposed to a target not met, which is a result).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Wrk(#[from] wrk::WrkError),
    #[error("the benchmark portal does not load:\n{0}")]
    Portal(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("service {service} is still {state:?} after warming for {after:?}; its breaker did not open")]
    BreakerNotOpen {
        service: String,
        state: String,
        after: Duration,
    },
    #[error("unexpected page: {0}")]
    Page(String),
}
