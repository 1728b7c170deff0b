//! Incremental page delivery: the first bytes never wait for the slowest backend.
//!
//! Every slot starts at once. Whatever is ready without waiting (cache hits complete on
//! their first poll) and the primary fragments (which decide the status) go into the
//! first flush, rendered by the page's own layout; every other slot is a placeholder.
//! Then, by mode:
//! - **in order**: the layout is cut at the placeholders and each part is sent as soon as
//!   every slot before it is done — plain HTML, no script;
//! - **out of order**: each remaining fragment is sent the moment it completes, in a
//!   section a small inline script moves into its placeholder (without JavaScript the
//!   section simply shows at the end of the page).
//!
//! The page deadline still holds: what is not done by then is sent as its timeout
//! result (or fallback) and the response ends. Dropping the response (client gone)
//! drops the work, and with it the backend calls.
//!
//! For `Server-Timing`, a [`PageStream`] says how each slot stood when the status was
//! decided ([`PageStream::head_timing`]) and, once the body is complete, how each ended
//! ([`PageStream::timing`]): the channel sends the first as a header and the second as
//! a trailer.

use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tessera_descriptors::{Delivery, PageDef};
use tessera_fragments::{escape_html, FragmentResult, Origin, RenderContext, Status};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};
use tracing::Instrument;

use crate::assemble::{primary_status, render_layout, LayoutReads, Slot};
use crate::error::EngineError;
use crate::request::PortalRequest;
use crate::Engine;

/// A page on its way: the status is decided; the body follows chunk by chunk.
pub struct PageStream {
    pub status: u16,
    pub redirect: Option<String>,
    pub body: mpsc::Receiver<Bytes>,
    /// Every slot in page order as it stood when the status was decided: the ones done
    /// by then (cache hits, primaries) with their timing, the others without.
    pub head_timing: Vec<SlotTiming>,
    /// Every slot in page order once the last chunk was handed over; never sent when the
    /// reader went away or the layout failed.
    pub timing: oneshot::Receiver<Vec<SlotTiming>>,
}

/// A slot as a `Server-Timing` entry sees it (no content is copied).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotTiming {
    pub fragment: String,
    /// `None`: not done yet.
    pub done: Option<Timed>,
}

/// How long a fragment took and where its content came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    pub elapsed: Duration,
    pub status: Status,
    pub origin: Origin,
    pub cause: Option<Status>,
}

impl Timed {
    pub fn of(r: &FragmentResult) -> Self {
        Self {
            elapsed: r.elapsed,
            status: r.status,
            origin: r.origin,
            cause: r.cause,
        }
    }
}

type SlotFuture = BoxFuture<'static, (usize, FragmentResult)>;

struct Running {
    engine: Arc<Engine>,
    request: Arc<PortalRequest>,
    page: Arc<PageDef>,
    /// (region, optional, primary) per slot; results arrive by index.
    shape: Vec<(String, bool, bool)>,
    defs: Vec<Arc<tessera_descriptors::FragmentDef>>,
    results: Vec<Option<FragmentResult>>,
    pending: FuturesUnordered<SlotFuture>,
    deadline: Instant,
}

impl Engine {
    /// Starts a streamed page. Returns once the status is decided (after the primary
    /// fragments, if any); the body streams from a task of its own.
    pub async fn stream_page(
        self: &Arc<Self>,
        request: PortalRequest,
        mode: Delivery,
    ) -> Result<PageStream, EngineError> {
        let page = self.resolve_page(&request)?;
        let request = Arc::new(request);
        let mut run = Running::start(self.clone(), request, page);
        run.collect_ready();
        run.wait_for_primaries().await;
        let (status, redirect) = primary_status(&run.slots_so_far());
        let head_timing = run.timing();
        let (tx, rx) = mpsc::channel(32);
        let (timing_tx, timing) = oneshot::channel();
        if redirect.is_none() {
            // In the request's span: the fragments and backend calls still to come are
            // traced as the request's.
            tokio::spawn(
                async move {
                    let result = match mode {
                        Delivery::InOrder => run.in_order(&tx).await,
                        _ => run.out_of_order(&tx).await,
                    };
                    match result {
                        // Before `tx` goes: the body's end finds the timing ready.
                        Ok(()) => {
                            let _ = timing_tx.send(run.timing());
                        }
                        Err(e) => tracing::warn!(error = %e, "streamed page ended early"),
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
        Ok(PageStream {
            status,
            redirect,
            body: rx,
            head_timing,
            timing,
        })
    }
}

impl Engine {
    /// The page's slots, each sent the moment it completes (for streamed JSON): what is
    /// ready first, then the rest in completion order, then nothing once the deadline
    /// passed (the remaining slots come as their timeout results).
    pub fn slot_events(
        self: &Arc<Self>,
        request: PortalRequest,
    ) -> Result<(Arc<PageDef>, mpsc::Receiver<Slot>), EngineError> {
        let page = self.resolve_page(&request)?;
        let mut run = Running::start(self.clone(), Arc::new(request), page.clone());
        let (tx, rx) = mpsc::channel(32);
        let span = tracing::Span::current();
        tokio::spawn(
            async move {
                run.collect_ready();
                let mut sent = vec![false; run.results.len()];
                loop {
                    for (i, r) in run.results.iter().enumerate() {
                        if let (false, Some(result)) = (sent[i], r) {
                            let (region, optional, primary) = run.shape[i].clone();
                            let slot = Slot {
                                region,
                                optional,
                                primary,
                                result: result.clone(),
                            };
                            if tx.send(slot).await.is_err() {
                                return;
                            }
                            sent[i] = true;
                        }
                    }
                    if sent.iter().all(|s| *s) {
                        return;
                    }
                    // Waits for the next slot; past the deadline every slot gets its timeout
                    // result and the next round sends them all.
                    run.next_before_deadline().await;
                }
            }
            .instrument(span),
        );
        Ok((page, rx))
    }
}

/// A streamed page whose reader went away, or whose layout failed.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error("the client went away")]
    Gone,
    #[error(transparent)]
    Layout(#[from] EngineError),
}

impl Running {
    fn start(engine: Arc<Engine>, request: Arc<PortalRequest>, page: Arc<PageDef>) -> Self {
        let deadline = Instant::now() + page.timeout;
        let planned = crate::personalize::plan(engine.portal(), &page, &request);
        let mut shape = Vec::new();
        let mut defs = Vec::new();
        let pending = FuturesUnordered::new();
        let mut results = Vec::new();
        for p in planned {
            let i = shape.len();
            // `plan` only yields fragments of this portal version, so the lookup holds.
            let Some(def) = engine.portal().fragments.get(&p.def.id).cloned() else {
                continue;
            };
            shape.push((p.region.to_owned(), p.optional, p.primary));
            defs.push(def.clone());
            if !p.allowed {
                results.push(Some(engine.fragments().placeholder(
                    &def,
                    Status::Forbidden,
                    Some("requires access you do not have".into()),
                )));
                continue;
            }
            if p.minimized {
                results.push(Some(engine.fragments().placeholder(
                    &def,
                    Status::Minimized,
                    None,
                )));
                continue;
            }
            results.push(None);
            let (engine, request, params) =
                (engine.clone(), request.clone(), p.params.into_owned());
            pending.push(
                async move {
                    let ctx = RenderContext {
                        viewer: &request.viewer,
                        channel: request.channel.key(),
                        profile: &request.profile,
                        trace: request.trace.as_ref(),
                    };
                    let span = crate::assemble::fragment_span(&def.id);
                    let r = engine
                        .fragments()
                        .produce_in(&def, params, &ctx)
                        .instrument(span.clone())
                        .await;
                    crate::assemble::fragment_done(&span, &r);
                    engine.metrics().fragment(&r);
                    (i, r)
                }
                .boxed(),
            );
        }
        Self {
            engine,
            request,
            page,
            shape,
            defs,
            results,
            pending,
            deadline,
        }
    }

    /// Takes every slot that completes without waiting (cache hits).
    fn collect_ready(&mut self) {
        while let Some(Some((i, r))) = self.pending.next().now_or_never() {
            self.results[i] = Some(r);
        }
    }

    async fn wait_for_primaries(&mut self) {
        while self
            .shape
            .iter()
            .zip(&self.results)
            .any(|((_, _, primary), r)| *primary && r.is_none())
        {
            if !self.next_before_deadline().await {
                break;
            }
        }
    }

    /// One more completed slot; false when none is left or the deadline passed (then
    /// every unfinished slot gets its timeout result).
    async fn next_before_deadline(&mut self) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        match timeout_at(self.deadline, self.pending.next()).await {
            Ok(Some((i, r))) => {
                self.results[i] = Some(r);
                true
            }
            Ok(None) => false,
            Err(_) => {
                self.pending = FuturesUnordered::new();
                let message = format!(
                    "not ready within the page deadline of {}",
                    tessera_descriptors::format_duration(self.page.timeout)
                );
                let fragments = self.engine.fragments();
                for (r, def) in self.results.iter_mut().zip(&self.defs) {
                    if r.is_none() {
                        let failed = fragments.failed(
                            def,
                            Status::Timeout,
                            message.clone(),
                            self.page.timeout,
                        );
                        self.engine.metrics().fragment(&failed);
                        *r = Some(failed);
                    }
                }
                false
            }
        }
    }

    fn timing(&self) -> Vec<SlotTiming> {
        self.defs
            .iter()
            .zip(&self.results)
            .map(|(def, r)| SlotTiming {
                fragment: def.id.clone(),
                done: r.as_ref().map(Timed::of),
            })
            .collect()
    }

    fn slots_so_far(&self) -> Vec<Slot> {
        self.shape
            .iter()
            .zip(&self.results)
            .filter_map(|((region, optional, primary), r)| {
                r.clone().map(|result| Slot {
                    region: region.clone(),
                    optional: *optional,
                    primary: *primary,
                    result,
                })
            })
            .collect()
    }

    /// The layout with every unfinished slot replaced by `placeholder(index)`.
    fn skeleton(&self, placeholder: impl Fn(usize) -> String) -> Result<String, EngineError> {
        let fragments = self.engine.fragments();
        let slots: Vec<Slot> = self
            .shape
            .iter()
            .zip(&self.results)
            .enumerate()
            .map(|(i, ((region, optional, primary), r))| Slot {
                region: region.clone(),
                optional: *optional,
                primary: *primary,
                result: r.clone().unwrap_or_else(|| {
                    let mut p = fragments.placeholder(&self.defs[i], Status::Ok, None);
                    p.html = placeholder(i);
                    p
                }),
            })
            .collect();
        let renderer = fragments.renderer();
        let layout = renderer.for_channel(&self.page.layout, self.request.channel.key());
        let reads = LayoutReads {
            user: renderer.reads_user(&layout),
            profile: renderer.reads_profile(&layout),
            csrf: renderer.reads_csrf(&layout),
        };
        render_layout(fragments, &self.page, &layout, &slots, &self.request, reads)
    }

    async fn in_order(&mut self, tx: &mpsc::Sender<Bytes>) -> Result<(), StreamEnd> {
        let html = self.skeleton(marker)?;
        let mut rest = html.as_str();
        // Markers come in document order, whatever order the layout writes slots in:
        // always continue at the earliest one left.
        while let Some(at) = rest.find(MARKER_OPEN) {
            let digits: String = rest[at + MARKER_OPEN.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(i) = digits.parse::<usize>() else {
                break;
            };
            send(tx, &rest[..at]).await?;
            rest = &rest[at + marker(i).len()..];
            while self.results.get(i).is_some_and(Option::is_none)
                && self.next_before_deadline().await
            {}
            let content = self
                .results
                .get(i)
                .and_then(Option::as_ref)
                .map(slot_content)
                .unwrap_or_default();
            send(tx, &content).await?;
        }
        send(tx, rest).await
    }

    async fn out_of_order(&mut self, tx: &mpsc::Sender<Bytes>) -> Result<(), StreamEnd> {
        let html = self.skeleton(|i| format!("<div class=\"tessera-pending\" id=\"tessera-slot-{i}\" aria-busy=\"true\">Loading…</div>"))?;
        let (body, tail) = match html.rfind("</body>") {
            Some(at) => html.split_at(at),
            None => (html.as_str(), ""),
        };
        let mut waiting: Vec<usize> = (0..self.results.len())
            .filter(|i| self.results[*i].is_none())
            .collect();
        send(tx, body).await?;
        if !waiting.is_empty() {
            send(tx, FILL_SCRIPT).await?;
        }
        while !waiting.is_empty() {
            let progressed = self.next_before_deadline().await;
            let (done, still): (Vec<usize>, Vec<usize>) = waiting
                .into_iter()
                .partition(|i| self.results[*i].is_some());
            for i in done {
                let r = self.results[i]
                    .as_ref()
                    .map(|r| (r.title.clone(), slot_content(r)))
                    .unwrap_or_default();
                let chunk = format!(
                    "<section class=\"tessera-late\" id=\"tessera-fill-{i}\"><h2 class=\"tessera-late__title\">{}</h2><div class=\"tessera-late__content\">{}</div></section><script>tesseraFill({i})</script>\n",
                    escape_html(&r.0),
                    r.1
                );
                send(tx, &chunk).await?;
            }
            waiting = still;
            if !progressed && !waiting.is_empty() {
                break;
            }
        }
        send(tx, tail).await?;
        Ok(())
    }
}

/// Moves a late fragment into its placeholder (the late section stays where it is when
/// scripts are off).
const FILL_SCRIPT: &str = "<script>function tesseraFill(n){var s=document.getElementById('tessera-slot-'+n),f=document.getElementById('tessera-fill-'+n);if(!s||!f)return;var c=f.querySelector('.tessera-late__content');s.innerHTML=c?c.innerHTML:'';s.removeAttribute('aria-busy');s.className='tessera-filled';f.parentNode.removeChild(f);}</script>\n";

const MARKER_OPEN: &str = "<!--tessera-slot-";

fn marker(i: usize) -> String {
    format!("{MARKER_OPEN}{i}-->")
}

/// What a finished slot contributes to the stream: its markup, and for a slot that is
/// not ok, a line saying what is missing (the layout had only a placeholder to show).
fn slot_content(r: &FragmentResult) -> String {
    match (r.status, &r.message) {
        (Status::Ok | Status::Minimized | Status::Forbidden, _) | (_, None) => r.html.clone(),
        (status, Some(m)) => format!(
            "{}<p class=\"slot-status slot-status--{}\" role=\"status\">{}</p>",
            r.html,
            status.as_str(),
            escape_html(m)
        ),
    }
}

async fn send(tx: &mpsc::Sender<Bytes>, s: &str) -> Result<(), StreamEnd> {
    if s.is_empty() {
        return Ok(());
    }
    tx.send(Bytes::copy_from_slice(s.as_bytes()))
        .await
        .map_err(|_| StreamEnd::Gone)
}
