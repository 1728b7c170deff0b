//! Interleaved comparisons: on a noisy machine one run of A and one of B cannot settle
//! a target with a margin of a few percent, because each run's numbers move between
//! invocations by more than that. So the arms run in turn (A, B, A, B, A, B — same
//! connections, same duration), every run is reported, and targets are judged on each
//! arm's medians. Slow drifts of the machine then hit both arms alike.

use std::path::PathBuf;

use crate::context::{us, Summary};
use crate::page::BenchPage;
use crate::wrk::WrkRun;
use crate::{BenchError, Context, ScenarioId};

/// One side of a comparison.
#[derive(Debug)]
pub(crate) struct Arm<'a> {
    /// Runs are labelled `LABEL #N`; the medians row is labelled `LABEL`.
    pub label: String,
    pub url: String,
    pub connections: u32,
    /// A wrk Lua script (`-s`), e.g. one that sets a user header per request.
    pub script: Option<PathBuf>,
    /// The page behind `url`, when it is one: its backend calls per run are recorded.
    pub page: Option<&'a BenchPage>,
}

/// Runs every arm `ctx.options.rounds` times in turn and records each run and each
/// arm's medians (in `ctx.summaries`, in the order of `arms`).
pub(crate) async fn interleaved(
    ctx: &mut Context,
    id: ScenarioId,
    arms: &[Arm<'_>],
) -> Result<Vec<Summary>, BenchError> {
    let rounds = ctx.options.rounds.max(1);
    let mut reports = vec![Vec::new(); arms.len()];
    for round in 1..=rounds {
        for (arm, runs) in arms.iter().zip(reports.iter_mut()) {
            let before = arm.page.map(BenchPage::backend_calls);
            let run = WrkRun {
                url: arm.url.clone(),
                threads: ctx.options.threads,
                connections: arm.connections,
                duration: ctx.options.duration,
                script: arm.script.clone(),
            };
            let report = ctx
                .measure_run(id, &format!("{} #{round}", arm.label), run)
                .await?;
            if let (Some(page), Some(before), Some(m)) =
                (arm.page, before, ctx.measurements.last_mut())
            {
                m.backend_calls = Some(page.backend_calls().saturating_sub(before));
            }
            runs.push(report);
        }
    }
    let summaries: Vec<Summary> = arms
        .iter()
        .zip(reports)
        .map(|(arm, runs)| Summary::of(id, &arm.label, arm.connections, runs))
        .collect();
    ctx.summaries.extend(summaries.iter().cloned());
    Ok(summaries)
}

/// Records the "no failed request" target over every run of an arm.
pub(crate) fn no_failed_requests(ctx: &mut Context, id: ScenarioId, arm: &Summary) {
    ctx.check(
        id,
        format!("{}: no failed requests", arm.label),
        format!(
            "{} failed of {} requests over {} runs",
            arm.errors,
            arm.requests,
            arm.runs.len()
        ),
        arm.errors == 0,
    );
}

/// Notes what the servers spent per request in `subject` against `base` (medians): the
/// CPU side of a throughput comparison, steadier between invocations than requests/s.
pub(crate) fn cpu_note(ctx: &mut Context, id: ScenarioId, subject: &Summary, base: &Summary) {
    if let (Some(s), Some(b)) = (subject.cpu_per_request, base.cpu_per_request) {
        ctx.note(format!(
            "{id}: server CPU per request, {} {} vs {} {}: {:.2} ×",
            subject.label,
            us(Some(s)),
            base.label,
            us(Some(b)),
            s.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
        ));
    }
}
