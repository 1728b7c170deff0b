//! The scenarios, by their stable command-line names.
//!
//! Adding one: a variant in
//! [`ScenarioId`] with its name, summary and the scenarios it compares against, a
//! file here with its `run`, and a line in [`run`].

mod cached;
mod cached_users;
mod cold_fanout;
mod healthy;
mod hung_breaker;
mod hung_fanout;
mod interleave;
mod memory;
mod static_baseline;
mod streaming;

use std::fmt;

use crate::page::{Backend, BenchPage};
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::wrk::WrkReport;
use crate::{check, BenchError, Context};

/// A scenario of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioId {
    Static,
    Healthy8,
    HungBreakerOpen,
    Cached8,
    S1CachedHome,
    S2ColdFanout,
    S3Hung,
    S4Streaming,
    Memory100k,
}

impl ScenarioId {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [ScenarioId; 9] = [
        ScenarioId::Static,
        ScenarioId::Healthy8,
        ScenarioId::HungBreakerOpen,
        ScenarioId::Cached8,
        ScenarioId::S1CachedHome,
        ScenarioId::S2ColdFanout,
        ScenarioId::S3Hung,
        ScenarioId::S4Streaming,
        ScenarioId::Memory100k,
    ];

    /// The name used on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioId::Static => "static",
            ScenarioId::Healthy8 => "healthy8",
            ScenarioId::HungBreakerOpen => "hung-breaker-open",
            ScenarioId::Cached8 => "cached8",
            ScenarioId::S1CachedHome => "s1-cached-home",
            ScenarioId::S2ColdFanout => "s2-cold-fanout",
            ScenarioId::S3Hung => "s3-hung",
            ScenarioId::S4Streaming => "s4-streaming",
            ScenarioId::Memory100k => "memory-100k",
        }
    }

    pub fn from_name(name: &str) -> Option<ScenarioId> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// One line for `--list`.
    pub fn summary(self) -> &'static str {
        match self {
            ScenarioId::Static => "the page's bytes as one static in-memory response (baseline)",
            ScenarioId::Healthy8 => "eight ~3 KB fragments from eight instant backends, no cache",
            ScenarioId::HungBreakerOpen => {
                "healthy8 with one backend hanging and its breaker open, interleaved with healthy8 (issue #3)"
            }
            ScenarioId::Cached8 => {
                "eight fragments with ttl=1h, served from the page cache, interleaved with static bytes (issue #4)"
            }
            ScenarioId::S1CachedHome => {
                "cached page, 1,000 single-sign-on users, 2 of 8 fragments per user, 64 connections (issue #9 S1)"
            }
            ScenarioId::S2ColdFanout => {
                "backends at 10,10,20,20,30,30,40,80 ms, 8 connections, no cache (issue #9 S2)"
            }
            ScenarioId::S3Hung => {
                "S2 with the 80 ms backend hanging, before and after its breaker opens (issue #9 S3)"
            }
            ScenarioId::S4Streaming => {
                "S2's backends, buffered vs in-order vs out-of-order: time to first and last byte (issues #6, #9 S4)"
            }
            ScenarioId::Memory100k => {
                "100,000 SSO users' homepages cached: the node process's resident memory vs its cache size (issue #9 Memory)"
            }
        }
    }

    /// Scenarios whose runs this one's targets compare against; they run first.
    /// (Interleaved comparisons measure their reference themselves.)
    pub fn needs(self) -> &'static [ScenarioId] {
        match self {
            ScenarioId::S3Hung => &[ScenarioId::S2ColdFanout],
            ScenarioId::Static
            | ScenarioId::Healthy8
            | ScenarioId::HungBreakerOpen
            | ScenarioId::Cached8
            | ScenarioId::S1CachedHome
            | ScenarioId::S2ColdFanout
            | ScenarioId::S4Streaming
            | ScenarioId::Memory100k => &[],
        }
    }
}

impl fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The scenarios to run for a selection: the selected ones plus what they need,
/// each once, in [`ScenarioId::ALL`] order.
pub fn plan(selected: &[ScenarioId]) -> Vec<ScenarioId> {
    let mut wanted: Vec<ScenarioId> = Vec::new();
    let mut stack: Vec<ScenarioId> = selected.to_vec();
    while let Some(s) = stack.pop() {
        if !wanted.contains(&s) {
            wanted.push(s);
            stack.extend_from_slice(s.needs());
        }
    }
    wanted.sort();
    wanted
}

/// Runs one scenario, recording its measurements and checks in `ctx`.
pub async fn run(id: ScenarioId, ctx: &mut Context) -> Result<(), BenchError> {
    let probe = Probe::new()?;
    match id {
        ScenarioId::Static => static_baseline::run(ctx, &probe).await,
        ScenarioId::Healthy8 => healthy::run(ctx, &probe).await,
        ScenarioId::HungBreakerOpen => hung_breaker::run(ctx, &probe).await,
        ScenarioId::Cached8 => cached::run(ctx, &probe).await,
        ScenarioId::S1CachedHome => cached_users::run(ctx, &probe).await,
        ScenarioId::S2ColdFanout => cold_fanout::run(ctx, &probe).await,
        ScenarioId::S3Hung => hung_fanout::run(ctx, &probe).await,
        ScenarioId::S4Streaming => streaming::run(ctx, &probe).await,
        ScenarioId::Memory100k => memory::run(ctx, &probe).await,
    }
}

/// Issue #9 S2's backend delays, in fragment order (the 80 ms one last).
pub(crate) const S2_DELAYS_MS: [u64; FRAGMENTS] = [10, 10, 20, 20, 30, 30, 40, 80];

/// Issue #9 S2/S3 load: 8 connections.
pub(crate) const FANOUT_CONNECTIONS: u32 = 8;

/// Fetches one page and checks its slots; records the result as a check of `id`.
/// Returns the page's size in bytes.
pub(crate) async fn check_page(
    ctx: &mut Context,
    id: ScenarioId,
    probe: &Probe,
    page: &BenchPage,
    expected: &[check::Expect],
    target: &str,
) -> Result<usize, BenchError> {
    let fetched = probe.page(&page.node.url()).await?;
    let result = if fetched.status == 200 {
        check::slots(&fetched.body, expected)
    } else {
        Err(format!("HTTP {}", fetched.status))
    };
    let fallbacks = expected
        .iter()
        .filter(|e| **e == check::Expect::Fallback)
        .count();
    let measured = match &result {
        Ok(()) if fallbacks == 0 => format!("{FRAGMENTS}/{FRAGMENTS} slots with content"),
        Ok(()) => format!(
            "{}/{FRAGMENTS} slots with content, {fallbacks} with the declared fallback text",
            FRAGMENTS - fallbacks
        ),
        Err(problem) => problem.clone(),
    };
    ctx.check(id, target, measured, result.is_ok());
    Ok(fetched.body.len())
}

/// Measures the page of `page` and records how many backend calls the run made.
pub(crate) async fn measure_page(
    ctx: &mut Context,
    id: ScenarioId,
    label: &str,
    page: &BenchPage,
    connections: u32,
) -> Result<WrkReport, BenchError> {
    let before = page.backend_calls();
    let duration = ctx.options.duration;
    let report = ctx
        .measure(id, label, &page.node.url(), connections, duration)
        .await?;
    let calls = page.backend_calls().saturating_sub(before);
    if let Some(m) = ctx.measurements.last_mut() {
        m.backend_calls = Some(calls);
    }
    Ok(report)
}

/// Records whether every response of a run was a 2xx/3xx (wrk counts the others and
/// socket errors): with the one checked page, the evidence that pages stayed whole.
pub(crate) fn no_failed_requests(ctx: &mut Context, id: ScenarioId, label: &str) {
    if let Some(report) = ctx.measurement(label).cloned() {
        ctx.check(
            id,
            format!("{label}: no failed requests"),
            format!(
                "{} non-2xx/3xx, {} socket errors of {} requests",
                report.non_2xx_3xx,
                report.socket_errors.total(),
                report.requests
            ),
            report.errors() == 0,
        );
    }
}

/// Every fragment with content except the last, which shows its fallback.
pub(crate) fn last_slot_falls_back() -> [check::Expect; FRAGMENTS] {
    let mut expected = [check::Expect::Content; FRAGMENTS];
    expected[FRAGMENTS - 1] = check::Expect::Fallback;
    expected
}

/// The S2 backends, with the last one (80 ms) replaced by `last`.
pub(crate) fn s2_backends(last: Option<Backend>) -> [Backend; FRAGMENTS] {
    let mut backends = S2_DELAYS_MS.map(Backend::after_ms);
    if let Some(last) = last {
        backends[FRAGMENTS - 1] = last;
    }
    backends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ScenarioId::ALL {
            assert_eq!(ScenarioId::from_name(s.name()), Some(s));
        }
        assert_eq!(ScenarioId::from_name("nope"), None);
    }

    #[test]
    fn a_plan_adds_what_targets_compare_against_in_order() {
        assert_eq!(
            plan(&[ScenarioId::S3Hung, ScenarioId::HungBreakerOpen]),
            vec![
                ScenarioId::HungBreakerOpen,
                ScenarioId::S2ColdFanout,
                ScenarioId::S3Hung
            ]
        );
        assert_eq!(plan(&[ScenarioId::Static]), vec![ScenarioId::Static]);
    }
}
