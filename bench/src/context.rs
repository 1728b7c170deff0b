//! What one harness invocation accumulates as its scenarios run: the measured runs
//! (one per wrk invocation), the checks against targets, and notes.

use std::time::Duration;

use crate::scenario::ScenarioId;
use crate::wrk::{self, WrkReport, WrkRun};
use crate::BenchError;

/// Settings of one invocation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of each measured run.
    pub duration: Duration,
    /// Connections for the throughput scenarios (`static`, `healthy8`,
    /// `hung-breaker-open`); the issue #9 scenarios fix their own.
    pub connections: u32,
    /// wrk threads (`-t`); never more than the connections.
    pub threads: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(5),
            connections: 32,
            threads: 2,
        }
    }
}

/// One wrk run.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub scenario: ScenarioId,
    /// Unique within an invocation: the scenario name, plus a phase for scenarios
    /// with several runs (`s3-hung (breaker open)`).
    pub label: String,
    pub connections: u32,
    pub report: WrkReport,
    /// Calls the page's backends received during the run, when the run was a page.
    pub backend_calls: Option<u64>,
}

/// One target, measured.
#[derive(Debug, Clone)]
pub struct Check {
    pub scenario: ScenarioId,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// Everything an invocation has measured so far.
#[derive(Debug, Default)]
pub struct Context {
    pub options: Options,
    pub measurements: Vec<Measurement>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Context {
    pub fn new(options: Options) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Drives `url` with wrk for the configured duration and records the run.
    pub async fn measure(
        &mut self,
        scenario: ScenarioId,
        label: &str,
        url: &str,
        connections: u32,
        duration: Duration,
    ) -> Result<WrkReport, BenchError> {
        let run = WrkRun {
            url: url.to_owned(),
            threads: self.options.threads,
            connections,
            duration,
        };
        eprintln!("  {label}: {run}");
        let report = wrk::run(&run).await?;
        eprintln!(
            "  {label}: {:.0} req/s, p50 {}, p99 {}, max {}, errors {}",
            report.requests_per_sec,
            ms(report.p50),
            ms(report.p99),
            ms(report.latency_max),
            report.errors()
        );
        self.measurements.push(Measurement {
            scenario,
            label: label.to_owned(),
            connections,
            report: report.clone(),
            backend_calls: None,
        });
        Ok(report)
    }

    /// The run recorded under `label`, if it ran in this invocation.
    pub fn measurement(&self, label: &str) -> Option<&WrkReport> {
        self.measurements
            .iter()
            .find(|m| m.label == label)
            .map(|m| &m.report)
    }

    /// Records a target and whether it was met.
    pub fn check(
        &mut self,
        scenario: ScenarioId,
        target: impl Into<String>,
        measured: impl Into<String>,
        met: bool,
    ) {
        let check = Check {
            scenario,
            target: target.into(),
            measured: measured.into(),
            met,
        };
        eprintln!(
            "  target {}: {} — {}",
            if check.met { "met" } else { "NOT met" },
            check.target,
            check.measured
        );
        self.checks.push(check);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }
}

/// A duration as milliseconds with two decimals: `81.25 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
