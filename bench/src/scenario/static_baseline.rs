//! `static`: the baseline. The healthy page is rendered once by a Tessera node; its
//! bytes are then served as one in-memory response by the same HTTP stack, so every
//! other scenario's requests/s can be read as a fraction of what the stack itself
//! allows on this machine.

use bytes::Bytes;

use crate::check::Expect;
use crate::node::Node;
use crate::page::{Backend, BenchPage};
use crate::portal::FRAGMENTS;
use crate::probe::Probe;
use crate::{check, BenchError, Context, ScenarioId};

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::Static;
    let page = BenchPage::start(&[Backend::FAST; FRAGMENTS]).await?;
    let fetched = probe.page(&page.node.url()).await?;
    if fetched.status != 200 {
        return Err(BenchError::Page(format!("HTTP {}", fetched.status)));
    }
    check::slots(&fetched.body, &[Expect::Content; FRAGMENTS]).map_err(BenchError::Page)?;
    // The node and its backends stay idle (stopped) while the baseline is measured.
    drop(page);
    let size = fetched.body.len();
    let node = Node::static_page(Bytes::from(fetched.body)).await?;
    ctx.note(format!(
        "static: the page is {size} bytes ({FRAGMENTS} fragments), served from memory with Tessera's headers"
    ));
    let (conns, duration) = (ctx.options.connections, ctx.options.duration);
    ctx.measure(id, id.name(), &node.url(), conns, duration)
        .await?;
    Ok(())
}
