//! `s2-cold-fanout` (issue #9 S2): backends answer after 10, 10, 20, 20, 30, 30, 40 and
//! 80 ms, nothing is cached, 8 connections. The fragments are fetched concurrently,
//! so a page can be no faster than its slowest fragment (80 ms); the target is how
//! little Tessera adds on top.
//!
//! Targets: p50 within 1 ms of 80 ms, p99 within 4 ms of it.
//!
//! Reference runs (not targets) say what bounds the latency: the 80 ms backend alone,
//! the page with one connection, and the least an aggregator can do — a bare fan-out
//! (reqwest and `join_all`, nothing of Tessera) over the same eight backends, with 8
//! connections and with 1.

use std::time::Duration;

use crate::check::Expect;
use crate::context::ms;
use crate::node::Node;
use crate::page::BenchPage;
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

/// Label of the reference run against the 80 ms backend alone.
pub(crate) const BACKEND_ALONE: &str = "s2: the 80 ms backend alone";
/// Label of the reference run with one connection.
pub(crate) const ONE_CONNECTION: &str = "s2-cold-fanout, 1 connection";
/// Labels of the reference runs against the least possible aggregator
/// ([`Node::bare_fanout`]).
pub(crate) const BARE_FANOUT: &str = "s2: bare fan-out (reqwest, join_all; no Tessera)";
pub(crate) const BARE_FANOUT_ONE: &str = "s2: bare fan-out, 1 connection";

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
    let urls = (0..FRAGMENTS)
        .map(|i| page.backend_url(i))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| BenchError::Setup("a backend is missing".into()))?;
    let bare = Node::bare_fanout(urls).await?;
    for (label, connections) in [
        (BARE_FANOUT, super::FANOUT_CONNECTIONS),
        (BARE_FANOUT_ONE, 1),
    ] {
        ctx.measure(id, label, &bare.url(), connections, duration)
            .await?;
    }
    let p50 = |label: &str| ctx.measurement(label).map(|r| r.p50);
    if let (Some(page8), Some(bare8), Some(page1), Some(bare1), Some(alone)) = (
        p50(id.name()),
        p50(BARE_FANOUT),
        p50(ONE_CONNECTION),
        p50(BARE_FANOUT_ONE),
        p50(BACKEND_ALONE),
    ) {
        let over = |a: Duration, b: Duration| {
            let d = a.as_secs_f64() - b.as_secs_f64();
            format!("{:+.2} ms", d * 1e3)
        };
        ctx.note(format!(
            "{id}: p50 of the page over the bare fan-out at 1 connection (what Tessera adds; eight backend calls per page each): {}; at {} connections {} (Tessera's concurrent pages share their fetches, the bare fan-out makes eight calls per page: not the same work); the bare fan-out over the 80 ms backend alone (the hops of a fan-out on this machine): {}",
            over(page1, bare1),
            super::FANOUT_CONNECTIONS,
            over(page8, bare8),
            over(bare8, alone)
        ));
    }
    Ok(())
}
