//! What is recorded as pages are served: fragment outcomes and times, page times, HTTP
//! statuses. Figures that already exist elsewhere (service statistics, breaker states,
//! the cache's counters) are not recorded twice: the channel layer reads them when
//! `/metrics` is scraped.
//!
//! The families live in one [`Metrics`] per node (not in a process-global recorder), so
//! that two nodes in one process — every integration test — count on their own. It is
//! shared by the engine of every portal version (`Engine::with_metrics`).
//!
//! Labels are ids from descriptors (fragment, page) and closed sets (status, origin,
//! HTTP status code): never user ids, paths or parameter values, so the number of series
//! is bounded by the portal's descriptors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tessera_service_access::sharded::ShardedCounter;

use tessera_fragments::{FragmentResult, Status};

use tessera_service_access::histogram::SecondsHistogram;

/// Upper bounds (seconds) of every time histogram here: the same as the backend latency
/// buckets, so page, fragment and backend times line up.
pub use tessera_service_access::histogram::SECONDS_BUCKETS;

fn seconds_histogram() -> SecondsHistogram {
    SecondsHistogram::new(SECONDS_BUCKETS)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FragmentOutcome {
    pub fragment: String,
    pub status: &'static str,
    pub origin: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FragmentLabel {
    pub fragment: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PageLabel {
    pub page: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PageOutcome {
    pub page: String,
    /// A number rather than text: no string made per request (written the same).
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

type Seconds<L> = Family<L, SecondsHistogram, fn() -> SecondsHistogram>;

/// Status codes 0–599 get a cached counter (HTTP's are 100–599).
const STATUS_CODES: usize = 600;

/// The node's recorded metrics. Cloning a family shares its values.
#[derive(Debug)]
pub struct Metrics {
    fragment_results: Family<FragmentOutcome, Counter>,
    fragment_seconds: Seconds<FragmentLabel>,
    page_seconds: Seconds<PageLabel>,
    page_ttfb_seconds: Seconds<PageLabel>,
    page_requests: Family<PageOutcome, ShardedCounter>,
    http_responses: Family<StatusLabel, ShardedCounter>,
    /// The counters of `http_responses` by status code, taken from the family on first
    /// use: counting a response is then one atomic add, not a lookup under the family's
    /// lock (it is done for every response).
    by_status: Box<[std::sync::OnceLock<ShardedCounter>]>,
    /// Each page's series, taken from the families on its first buffered answer (page
    /// ids come from descriptors, so the map stays as small as the portal). Read on every
    /// page without a lock or a shared reference count (`ArcSwap::load`); a new page
    /// copies the map.
    pages: arc_swap::ArcSwap<PageMap>,
    /// Guests' pages answered from the guests' memo (`tessera_channels::guest`).
    guest_memo: ShardedCounter,
}

/// Pages' series by page id (foldhash: looked up on every page served).
type PageMap = std::collections::HashMap<String, Arc<PageSeries>, foldhash::fast::RandomState>;

/// One page's series, shared with the families that `/metrics` reads.
#[derive(Debug)]
struct PageSeries {
    seconds: SecondsHistogram,
    ttfb: SecondsHistogram,
    /// `tessera_page_requests{status="200"}`, created at the page's first 200.
    ok: std::sync::OnceLock<ShardedCounter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            fragment_results: Family::default(),
            fragment_seconds: Family::new_with_constructor(seconds_histogram),
            page_seconds: Family::new_with_constructor(seconds_histogram),
            page_ttfb_seconds: Family::new_with_constructor(seconds_histogram),
            page_requests: Family::default(),
            http_responses: Family::default(),
            by_status: (0..STATUS_CODES)
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            pages: arc_swap::ArcSwap::default(),
            guest_memo: ShardedCounter::default(),
        }
    }
}

impl Metrics {
    /// One fragment's outcome on a page. Placeholders (forbidden, minimized) are counted
    /// but not timed: nothing was produced.
    pub fn fragment(&self, r: &FragmentResult) {
        self.fragment_results
            .get_or_create(&FragmentOutcome {
                fragment: r.id.clone(),
                status: r.status.as_str(),
                origin: r.origin.as_str(),
            })
            .inc();
        if !matches!(r.status, Status::Forbidden | Status::Minimized) {
            self.fragment_seconds
                .get_or_create(&FragmentLabel {
                    fragment: r.id.clone(),
                })
                .observe(r.elapsed.as_secs_f64());
        }
    }

    /// A page answered: its status and the time until its last byte was produced.
    pub fn page(&self, page: &str, status: u16, seconds: f64) {
        self.page_requests
            .get_or_create(&PageOutcome {
                page: page.to_owned(),
                status,
            })
            .inc();
        self.page_seconds
            .get_or_create(&PageLabel {
                page: page.to_owned(),
            })
            .observe(seconds);
    }

    /// A buffered page: [`Metrics::page`] and [`Metrics::page_ttfb`] (its first byte
    /// leaves with the rest) with one label made for both.
    pub fn buffered_page(&self, page: &str, status: u16, seconds: f64) {
        let record = |series: &PageSeries| {
            series.seconds.observe(seconds);
            series.ttfb.observe(seconds);
            if status == 200 {
                series.ok.get_or_init(|| self.page_outcome(page, 200)).inc();
            } else {
                self.page_outcome(page, status).inc();
            }
        };
        if let Some(series) = self.pages.load().get(page) {
            record(series);
            return;
        }
        let label = PageLabel {
            page: page.to_owned(),
        };
        let series = Arc::new(PageSeries {
            seconds: self.page_seconds.get_or_create(&label).clone(),
            ttfb: self.page_ttfb_seconds.get_or_create(&label).clone(),
            ok: std::sync::OnceLock::new(),
        });
        record(&series);
        self.pages.rcu(|pages| {
            let mut pages = PageMap::clone(pages);
            pages
                .entry(label.page.clone())
                .or_insert_with(|| series.clone());
            pages
        });
    }

    fn page_outcome(&self, page: &str, status: u16) -> ShardedCounter {
        self.page_requests
            .get_or_create(&PageOutcome {
                page: page.to_owned(),
                status,
            })
            .clone()
    }

    /// The time until a page's status, headers and first bytes were ready. For a
    /// buffered page it equals its duration.
    pub fn page_ttfb(&self, page: &str, seconds: f64) {
        self.page_ttfb_seconds
            .get_or_create(&PageLabel {
                page: page.to_owned(),
            })
            .observe(seconds);
    }

    /// Any HTTP response (pages, API, admin, static, 404s), by status code.
    pub fn response(&self, status: u16) {
        let family = || {
            self.http_responses
                .get_or_create(&StatusLabel { status })
                .clone()
        };
        match self.by_status.get(usize::from(status)) {
            Some(cached) => cached.get_or_init(family).inc(),
            None => family().inc(),
        };
    }

    /// A guest's page answered from the guests' memo.
    pub fn guest_memo_answer(&self) {
        self.guest_memo.inc();
    }

    /// Guests' pages answered from the guests' memo so far.
    pub fn guest_memo_answers(&self) -> u64 {
        self.guest_memo.get()
    }

    /// Adds the recorded families to `registry` (values are shared, not copied).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tessera_fragment_results",
            "Fragment outcomes on pages, by fragment, status and origin of the content",
            self.fragment_results.clone(),
        );
        registry.register(
            "tessera_fragment_render_seconds",
            "Time to produce a fragment for a page (cache lookups, backend call, model, template)",
            self.fragment_seconds.clone(),
        );
        registry.register(
            "tessera_page_duration_seconds",
            "Time from request to the page's last byte being produced",
            self.page_seconds.clone(),
        );
        registry.register(
            "tessera_page_ttfb_seconds",
            "Time from request to the page's status and first bytes being ready",
            self.page_ttfb_seconds.clone(),
        );
        registry.register(
            "tessera_page_requests",
            "Page requests answered, by page and HTTP status",
            self.page_requests.clone(),
        );
        registry.register(
            "tessera_http_responses",
            "HTTP responses of every route, by status code",
            self.http_responses.clone(),
        );
        registry.register(
            "tessera_guest_memo_answers",
            "Guests' pages answered from the guests' memo without a cache lookup (each also counts as a cache hit)",
            self.guest_memo.clone(),
        );
    }
}
