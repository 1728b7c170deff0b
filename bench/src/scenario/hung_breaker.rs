//! `hung-breaker-open` (issue #3's performance target): the `healthy8` page with the
//! last backend hanging. Its service has a 200 ms timeout and a breaker (window 10,
//! min-calls 5, 50%, open for 1 h). The harness first sends pages until the admin API
//! reports the breaker `open`, then measures: the hung service is not called at all,
//! its slot gets its fallback at once.
//!
//! Target: p99 within 2 ms of `healthy8`'s and requests/s within 10% of it, same
//! invocation; every page still has all eight slots.

use std::time::Duration;

use crate::context::ms;
use crate::page::{Backend, BenchPage};
use crate::portal::{service_id, FRAGMENTS};
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

/// The longest the harness tries to open the breaker (it takes about one timeout).
const WARMUP_LIMIT: Duration = Duration::from_secs(15);

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::HungBreakerOpen;
    let mut backends = [Backend::FAST; FRAGMENTS];
    backends[FRAGMENTS - 1] = Backend::Hang;
    let page = BenchPage::start(&backends).await?;
    let hung = service_id(FRAGMENTS - 1);
    let warm = probe
        .warm_breaker_open(&page.node, &hung, FRAGMENTS, WARMUP_LIMIT)
        .await?;
    ctx.note(format!(
        "{id}: breaker of {hung} opened after {} warm-up pages in {}",
        warm.pages,
        ms(warm.took)
    ));
    super::check_page(
        ctx,
        id,
        probe,
        &page,
        &super::last_slot_falls_back(),
        "all eight slots filled (the hung one with its fallback text)",
    )
    .await?;
    let conns = ctx.options.connections;
    let hung_run = super::measure_page(ctx, id, id.name(), &page, conns).await?;
    super::no_failed_requests(ctx, id, id.name());
    let state = probe.service_state(&page.node, &hung).await?;
    ctx.check(
        id,
        "breaker still open after the run",
        format!("{hung} is {state}"),
        state == "open",
    );
    let Some(healthy) = ctx.measurement(ScenarioId::Healthy8.name()).cloned() else {
        ctx.note(format!("{id}: healthy8 did not run; no comparison"));
        return Ok(());
    };
    let p99_limit = healthy.p99 + Duration::from_millis(2);
    ctx.check(
        id,
        "p99 ≤ healthy8 p99 + 2 ms",
        format!(
            "{} vs healthy8 {} (limit {})",
            ms(hung_run.p99),
            ms(healthy.p99),
            ms(p99_limit)
        ),
        hung_run.p99 <= p99_limit,
    );
    let ratio = hung_run.requests_per_sec / healthy.requests_per_sec;
    ctx.check(
        id,
        "req/s ≥ 90% of healthy8",
        format!(
            "{:.0} vs healthy8 {:.0} req/s ({:.1}%)",
            hung_run.requests_per_sec,
            healthy.requests_per_sec,
            ratio * 100.0
        ),
        ratio >= 0.9,
    );
    Ok(())
}
