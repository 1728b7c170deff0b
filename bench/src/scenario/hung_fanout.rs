//! `s3-hung` (issue #9 S3): the S2 page with the 80 ms backend replaced by one that
//! never answers; its service times out after 200 ms.
//!
//! Two phases on one node:
//! 1. **Breaker closed.** The operator toggle `force-closed` keeps every call going to
//!    the hung backend for a whole measured run (otherwise the breaker would open
//!    after the first handful of pages, too few to judge). Target: no request takes
//!    longer than the timeout + 5 ms (wrk's maximum). The toggle is then removed, the
//!    breaker reset, and the warm-up pages that open it — served with the breaker
//!    genuinely closed — are held to the same bound.
//! 2. **Breaker open.** Target: p50 no more than 1 ms above S2's p50 (read as an upper
//!    bound: without the 80 ms backend the page may well be faster), and every page
//!    still has all eight slots.

use std::time::Duration;

use crate::context::ms;
use crate::page::Backend;
use crate::page::BenchPage;
use crate::portal::{service_id, FRAGMENTS, SERVICE_TIMEOUT_MS};
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

const WARMUP_LIMIT: Duration = Duration::from_secs(15);

/// Label of the breaker-closed run.
pub(crate) const CLOSED: &str = "s3-hung (breaker closed)";
/// Label of the breaker-closed reference run with one connection.
pub(crate) const CLOSED_ONE_CONNECTION: &str = "s3-hung (breaker closed), 1 connection";
/// Label of the breaker-open run.
pub(crate) const OPEN: &str = "s3-hung (breaker open)";

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::S3Hung;
    let page = BenchPage::start(&super::s2_backends(Some(Backend::Hang))).await?;
    let node = &page.node;
    let hung = service_id(FRAGMENTS - 1);
    let bound = Duration::from_millis(SERVICE_TIMEOUT_MS + 5);

    // Phase 1: breaker closed.
    let state = probe.service_action(node, &hung, "force-closed").await?;
    if state != "forced_closed" {
        return Err(BenchError::Setup(format!(
            "{hung}: force-closed left it {state}"
        )));
    }
    let closed = super::measure_page(ctx, id, CLOSED, &page, super::FANOUT_CONNECTIONS).await?;
    ctx.check(
        id,
        format!("breaker closed: max ≤ timeout + 5 ms = {}", ms(bound)),
        format!(
            "max {} over {} requests (p50 {})",
            ms(closed.latency_max),
            closed.requests,
            ms(closed.p50)
        ),
        closed.latency_max <= bound && closed.requests > 0,
    );
    // Reference: the same with one connection, i.e. without concurrent pages.
    super::measure_page(ctx, id, CLOSED_ONE_CONNECTION, &page, 1).await?;
    probe.service_action(node, &hung, "enable").await?;
    let state = probe.service_action(node, &hung, "reset").await?;
    if state != "closed" {
        return Err(BenchError::Setup(format!("{hung}: reset left it {state}")));
    }
    let warm = probe
        .warm_breaker_open(
            node,
            &hung,
            super::FANOUT_CONNECTIONS as usize,
            WARMUP_LIMIT,
        )
        .await?;
    ctx.check(
        id,
        format!("breaker warm-up pages: max ≤ {}", ms(bound)),
        format!(
            "max {} over {} pages; open after {}",
            ms(warm.max_latency),
            warm.pages,
            ms(warm.took)
        ),
        warm.max_latency <= bound,
    );

    // Phase 2: breaker open.
    super::check_page(
        ctx,
        id,
        probe,
        &page,
        &super::last_slot_falls_back(),
        "breaker open: all eight slots filled (the hung one with its fallback text)",
    )
    .await?;
    let open = super::measure_page(ctx, id, OPEN, &page, super::FANOUT_CONNECTIONS).await?;
    super::no_failed_requests(ctx, id, OPEN);
    let Some(s2) = ctx.measurement(ScenarioId::S2ColdFanout.name()).cloned() else {
        ctx.note(format!("{id}: s2-cold-fanout did not run; no comparison"));
        return Ok(());
    };
    let limit = s2.p50 + Duration::from_millis(1);
    ctx.check(
        id,
        "breaker open: p50 ≤ S2 p50 + 1 ms",
        format!(
            "{} vs S2 {} (limit {})",
            ms(open.p50),
            ms(s2.p50),
            ms(limit)
        ),
        open.p50 <= limit,
    );
    Ok(())
}
