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
    /// Runs per arm of an interleaved comparison (A, B, A, B, …): targets that compare
    /// two scenarios are judged on the medians, not on one run of each.
    pub rounds: u32,
    /// S4: requests per connection in each run of the time-to-first-byte client.
    pub stream_requests: u32,
    /// Memory scenario: distinct users whose homepages are cached (issue #9: 100,000).
    pub memory_users: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(5),
            connections: 32,
            threads: 2,
            rounds: 3,
            stream_requests: 40,
            memory_users: 100_000,
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

/// One arm of an interleaved comparison: the medians of its runs, metric by metric.
#[derive(Debug, Clone)]
pub struct Summary {
    pub scenario: ScenarioId,
    /// The arm's label; its runs are labelled `LABEL #1`, `LABEL #2`, …
    pub label: String,
    pub connections: u32,
    pub runs: Vec<WrkReport>,
    pub requests_per_sec: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    /// The servers' CPU time per request (median over the runs that have it).
    pub cpu_per_request: Option<Duration>,
    /// Failed requests over all runs (socket errors and non-2xx/3xx).
    pub errors: u64,
    pub requests: u64,
}

impl Summary {
    pub fn of(scenario: ScenarioId, label: &str, connections: u32, runs: Vec<WrkReport>) -> Self {
        let pick = |f: fn(&WrkReport) -> Duration| median_duration(runs.iter().map(f).collect());
        Self {
            scenario,
            label: label.to_owned(),
            connections,
            requests_per_sec: median(runs.iter().map(|r| r.requests_per_sec).collect()),
            p50: pick(|r| r.p50),
            p90: pick(|r| r.p90),
            p99: pick(|r| r.p99),
            cpu_per_request: {
                let cpu: Vec<Duration> =
                    runs.iter().filter_map(WrkReport::cpu_per_request).collect();
                (!cpu.is_empty()).then(|| median_duration(cpu))
            },
            errors: runs.iter().map(WrkReport::errors).sum(),
            requests: runs.iter().map(|r| r.requests).sum(),
            runs,
        }
    }
}

/// The median (the mean of the two middle values for an even count; 0 when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_duration(values: Vec<Duration>) -> Duration {
    Duration::from_secs_f64(median(values.iter().map(Duration::as_secs_f64).collect()))
}

/// One delivery mode of S4, measured by the time-to-first-byte client (`crate::ttfb`)
/// over all its runs: percentiles of every request together.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub scenario: ScenarioId,
    pub label: String,
    pub connections: u32,
    pub runs: usize,
    pub requests: usize,
    /// Answers other than 200.
    pub failed: usize,
    pub headers_p50: Duration,
    pub ttfb_p50: Duration,
    pub ttfb_p99: Duration,
    pub ttlb_p50: Duration,
    pub ttlb_p99: Duration,
    pub ttlb_max: Duration,
    /// Each run's median TTLB, to show how much the runs differ.
    pub ttlb_p50_of_runs: Vec<Duration>,
    /// Requests whose first read held no fragment content (only the skeleton).
    pub skeleton_first: usize,
    /// Median size of the first read's body bytes.
    pub first_bytes_p50: usize,
    pub body_bytes: usize,
    /// Backend calls per request over the runs, when the target is a page.
    pub backend_calls_per_request: Option<f64>,
}

/// One arm of the memory scenario: a node process with one cache size, after every
/// user's homepage was requested once.
#[derive(Debug, Clone)]
pub struct MemoryRun {
    pub label: String,
    pub users: usize,
    /// Time to request every user's page once (the warm-up).
    pub warm: Duration,
    /// The cache's figures afterwards (`/admin/api/cache`).
    pub cache: crate::probe::CacheStats,
    /// The node process's memory after its first page, before the others.
    pub at_start: crate::child::Memory,
    /// ... and after every user's page.
    pub after: crate::child::Memory,
    /// Users of a sample, asked again afterwards, whose page came whole from the page
    /// cache, and the sample's size.
    pub sample_whole: usize,
    pub sample: usize,
}

/// Everything an invocation has measured so far.
#[derive(Debug, Default)]
pub struct Context {
    pub options: Options,
    pub measurements: Vec<Measurement>,
    /// Arms of interleaved comparisons, with their medians.
    pub summaries: Vec<Summary>,
    /// S4's delivery modes, measured by the time-to-first-byte client.
    pub streams: Vec<StreamSummary>,
    /// The memory scenario's arms.
    pub memory: Vec<MemoryRun>,
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
            script: None,
        };
        self.measure_run(scenario, label, run).await
    }

    /// Runs wrk as `run` says and records the run.
    pub async fn measure_run(
        &mut self,
        scenario: ScenarioId,
        label: &str,
        run: WrkRun,
    ) -> Result<WrkReport, BenchError> {
        let connections = run.connections;
        eprintln!("  {label}: {run}");
        let cpu_before = crate::cpu::process_cpu();
        let mut report = wrk::run(&run).await?;
        report.server_cpu = cpu_before
            .zip(crate::cpu::process_cpu())
            .map(|(before, after)| after.saturating_sub(before));
        eprintln!(
            "  {label}: {:.0} req/s, p50 {}, p99 {}, max {}, errors {}, server CPU/request {}",
            report.requests_per_sec,
            ms(report.p50),
            ms(report.p99),
            ms(report.latency_max),
            report.errors(),
            us(report.cpu_per_request())
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

    /// The interleaved arm recorded under `label`.
    pub fn summary(&self, label: &str) -> Option<&Summary> {
        self.summaries.iter().find(|s| s.label == label)
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

/// `12.3 µs`, or `—` when not measured.
pub fn us(d: Option<Duration>) -> String {
    d.map_or_else(
        || "—".to_owned(),
        |d| format!("{:.1} µs", d.as_secs_f64() * 1e6),
    )
}

/// A duration as milliseconds with two decimals: `81.25 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
