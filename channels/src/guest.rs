//! Guests' cache hits without the page path: per node, the page the page cache last
//! answered a guest with at each buffered page address, with its response head.
//!
//! Within one portal version, every guest's request for a page on one channel makes the
//! same page instance: the instance is decided by the version, the page, the channel and
//! the request's identity, and a guest's identity is the node's anonymous one (its
//! tokens and profile are fixed for the node's lifetime; no user, layout or CSRF
//! token). So the page the page cache answered one guest with is what it would answer
//! the next guest with, for as long as that entry stays current — still the cache's
//! (not evicted, replaced, expired or invalidated), not marked stale, its sources fresh
//! ([`WholePage::current`]: a few atomic loads, no lookup). While it is, the next guest
//! is answered from here: no identity, plan, instance key, cache lookup, or formatting of
//! the ETag and Cache-Control. When it is not, the request takes the page path as any
//! other, and a page that path finds whole in the cache is kept here again.
//!
//! What counts as a guest here ([`crate::auth::is_plain_guest`]): no session cookie and
//! no single-sign-on header — decided from the headers alone. A request whose session
//! cookie turns out unknown is a guest too, but only the store can say so: it takes the
//! page path. Streamed pages and `?delivery=` overrides take it too.
//!
//! The memo holds one slot per page and buffered channel of the version (a new version
//! starts a new memo), so it is bounded by the descriptors, not by requests. A slot
//! keeps its page's markup alive after the cache let it go, until a guest's request
//! keeps another: at most one page per slot beyond the cache's `max-bytes`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tessera_engine::page_cache::WholePage;
use tessera_engine::{Channel, Engine};
use tokio::time::Instant;

/// A page as the memo keeps it.
pub struct Prepared<H> {
    /// The cached page.
    pub whole: WholePage,
    /// Its response head, made once.
    pub head: H,
    /// The page's id, for its metrics and log line.
    pub page_id: String,
}

/// The memo of one node (see the module's documentation). `H` is the response head the
/// channel keeps with each page.
pub struct GuestPages<H> {
    memo: ArcSwapOption<Memo<H>>,
}

impl<H> Default for GuestPages<H> {
    fn default() -> Self {
        Self {
            memo: ArcSwapOption::empty(),
        }
    }
}

/// One portal version's slots.
struct Memo<H> {
    /// [`Engine::generation`] of the version.
    generation: u64,
    /// The home page's address (`/`, `/light`).
    home: Slots<H>,
    /// `/pages/{id}`, `/light/pages/{id}`, by page id.
    pages: HashMap<String, Slots<H>, foldhash::fast::RandomState>,
}

/// One per buffered channel: HTML, light.
type Slots<H> = [ArcSwapOption<Prepared<H>>; 2];

fn slot_of(channel: Channel) -> Option<usize> {
    match channel {
        Channel::Html => Some(0),
        Channel::Light => Some(1),
        // The JSON channel has handlers of its own.
        Channel::Json => None,
    }
}

impl<H> Memo<H> {
    fn new(engine: &Engine) -> Self {
        Self {
            generation: engine.generation(),
            home: Slots::default(),
            pages: engine
                .portal()
                .pages
                .keys()
                .map(|id| (id.clone(), Slots::default()))
                .collect(),
        }
    }

    fn slot(&self, page: Option<&str>, channel: Channel) -> Option<&ArcSwapOption<Prepared<H>>> {
        let slots = match page {
            None => &self.home,
            Some(id) => self.pages.get(id)?,
        };
        Some(&slots[slot_of(channel)?])
    }
}

impl<H> GuestPages<H> {
    /// `answer` applied to the page a guest's request for `page` (`None`: the home page)
    /// on `channel` gets from `engine`, if the memo has it and it is current at `now`.
    pub fn serve<R>(
        &self,
        engine: &Engine,
        page: Option<&str>,
        channel: Channel,
        now: Instant,
        answer: impl FnOnce(&Prepared<H>) -> R,
    ) -> Option<R> {
        let memo = self.memo.load();
        let memo = memo
            .as_ref()
            .filter(|m| m.generation == engine.generation())?;
        let prepared = memo.slot(page, channel)?.load();
        let prepared = prepared
            .as_ref()
            .filter(|p| p.whole.current(engine.fragments(), now))?;
        Some(answer(prepared))
    }

    /// Keeps `prepared`, which `engine`'s page cache answered a guest's request for
    /// `page` on `channel` with.
    pub fn keep(
        &self,
        engine: &Engine,
        page: Option<&str>,
        channel: Channel,
        prepared: Prepared<H>,
    ) {
        let generation = engine.generation();
        let current = self.memo.load();
        let memo = match current.as_ref() {
            Some(m) if m.generation == generation => m.clone(),
            // A request that began before a newer version was swapped in.
            Some(m) if m.generation > generation => return,
            _ => {
                // The first keep of a new version starts its memo, unless another
                // request changed the memo meanwhile (then this keep is skipped; the
                // next guest's request keeps the page again).
                let fresh = Arc::new(Memo::new(engine));
                let before = self.memo.compare_and_swap(&current, Some(fresh.clone()));
                let swapped = match (before.as_ref(), current.as_ref()) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                };
                if !swapped {
                    return;
                }
                fresh
            }
        };
        if let Some(slot) = memo.slot(page, channel) {
            slot.store(Some(Arc::new(prepared)));
        }
    }
}
