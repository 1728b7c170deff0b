//! `healthy8`: the benchmark page with eight instant backends. There is no cache yet,
//! so every request makes eight backend calls, parses eight JSON bodies and renders
//! eight templates and the layout: the cost of assembly against `static`.

use crate::check::Expect;
use crate::page::{Backend, BenchPage};
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::{BenchError, Context, ScenarioId};

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::Healthy8;
    let page = BenchPage::start(&[Backend::FAST; FRAGMENTS]).await?;
    super::check_page(
        ctx,
        id,
        probe,
        &page,
        &[Expect::Content; FRAGMENTS],
        "every slot filled with content",
    )
    .await?;
    let conns = ctx.options.connections;
    super::measure_page(ctx, id, id.name(), &page, conns).await?;
    Ok(())
}
