//! `s2-cold-fanout` (issue #9 S2): backends answer after 10, 10, 20, 20, 30, 30, 40 and
//! 80 ms, nothing is cached, 8 connections. The fragments are fetched concurrently,
//! so a page can be no faster than its slowest fragment (80 ms); the target is how
//! little Tessera adds on top.
//!
//! Targets: p50 within 1 ms of 80 ms, p99 within 4 ms of it.

use std::time::Duration;

use crate::check::Expect;
use crate::context::ms;
use crate::page::BenchPage;
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

/// Label of the reference run against the 80 ms backend alone.
pub(crate) const BACKEND_ALONE: &str = "s2: the 80 ms backend alone";
/// Label of the reference run with one connection.
pub(crate) const ONE_CONNECTION: &str = "s2-cold-fanout, 1 connection";

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::S2ColdFanout;
    let page = BenchPage::start(&super::s2_backends(None)).await?;
    super::check_page(
        ctx,
        id,
        probe,
        &page,
        &[Expect::Content; FRAGMENTS],
        "every slot filled with content",
    )
    .await?;
    let run = super::measure_page(ctx, id, id.name(), &page, super::FANOUT_CONNECTIONS).await?;
    let slowest = Duration::from_millis(super::S2_DELAYS_MS[FRAGMENTS - 1]);
    let p50_limit = slowest + Duration::from_millis(1);
    let p99_limit = slowest + Duration::from_millis(4);
    ctx.check(
        id,
        format!("p50 ≤ {} (slowest fragment + 1 ms)", ms(p50_limit)),
        format!(
            "{} (+{} over the slowest)",
            ms(run.p50),
            ms(run.p50.saturating_sub(slowest))
        ),
        run.p50 <= p50_limit,
    );
    ctx.check(
        id,
        format!("p99 ≤ {} (slowest fragment + 4 ms)", ms(p99_limit)),
        format!(
            "{} (+{} over the slowest)",
            ms(run.p99),
            ms(run.p99.saturating_sub(slowest))
        ),
        run.p99 <= p99_limit,
    );
    diagnose(ctx, &page).await
}

/// Reference runs that say what bounds the S2 latency: the slowest backend alone
/// (the floor any page has), and the page with a single connection (the overhead
/// without concurrent requests competing for the cores).
async fn diagnose(ctx: &mut Context, page: &BenchPage) -> Result<(), BenchError> {
    let id = ScenarioId::S2ColdFanout;
    let duration = ctx.options.duration;
    let slowest = page
        .backend_url(FRAGMENTS - 1)
        .ok_or_else(|| BenchError::Setup("no slowest backend".into()))?;
    ctx.measure(
        id,
        BACKEND_ALONE,
        &slowest,
        super::FANOUT_CONNECTIONS,
        duration,
    )
    .await?;
    super::measure_page(ctx, id, ONE_CONNECTION, page, 1).await?;
    Ok(())
}
