//! The engine: the aggregation layer. It maps a [`PortalRequest`] to a page definition,
//! asks the fragment layer for every fragment of the page — concurrently, under one page
//! deadline — and renders the page's layout around the results. It never knows about
//! backends, only about fragments.
//!
//! Layout:
//! - `request` — [`PortalRequest`] and [`Channel`], as the channels hand them over
//! - `assemble` — producing a page's slots under its deadline, rendering its layout
//! - `page_cache` — the page stage's key (the page instance) and pages served whole
//! - `error` — [`EngineError`]: why there is no page
//! - `metrics` — [`Metrics`]: fragment outcomes and page times, recorded as pages are served
//! - `personalize` — the user's page instance: which fragments, where, with which values
//! - `stream` — pages delivered as their fragments arrive (in order or out of order)

pub mod assemble;
pub mod error;
pub mod metrics;
pub mod page_cache;
pub mod personalize;
pub mod request;
pub mod stream;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use minijinja::context;
use tessera_descriptors::Portal;
use tessera_fragments::cache::{Impact, Mode, Targets};
use tessera_fragments::{FragmentState, Fragments, Renderer};
use tessera_service_access::ServiceAccess;

pub use assemble::{PageOutput, Slot};
pub use error::EngineError;
pub use metrics::Metrics;
pub use request::{Channel, LayoutSlot, PageLayout, PortalRequest};
pub use stream::{PageStream, SlotTiming, Timed};

/// One portal version, ready to serve.
pub struct Engine {
    portal: Arc<Portal>,
    fragments: Fragments,
    /// What this version's fragments and templates read (the page cache's keys).
    analysis: page_cache::Analysis,
    services: Arc<ServiceAccess>,
    /// Outlives portal versions like `services`: pass it on with [`Engine::with_metrics`].
    metrics: Arc<Metrics>,
    /// This portal version's number, unique in the process: cached pages are keyed by it,
    /// since any descriptor or template of a version may show on any of its pages (the
    /// navigation lists every page), while the cache outlives versions.
    generation: u64,
}

/// The next [`Engine::generation`].
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

impl Engine {
    pub fn new(portal: Portal) -> Self {
        let services = Arc::new(ServiceAccess::new(&portal));
        let state = FragmentState::new(portal.settings.cache.max_bytes);
        Self::with_state(portal, services, state)
    }

    /// A portal version over existing service access (its breakers, toggles, statistics)
    /// and fragment state (cache, in-flight fetches): both outlive portal versions.
    pub fn with_state(portal: Portal, services: Arc<ServiceAccess>, state: FragmentState) -> Self {
        let portal = Arc::new(portal);
        let renderer = Arc::new(Renderer::new(
            &portal.templates,
            portal.settings.limits.max_template_fuel,
        ));
        let fragments = Fragments::new(portal.clone(), services.clone(), renderer, &state);
        Self {
            portal,
            analysis: page_cache::Analysis::new(&fragments),
            fragments,
            services,
            metrics: Arc::default(),
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This portal version records into `metrics` (a node's metrics outlive versions).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// This portal version's number: unique in the process, higher for later versions
    /// (cached pages are keyed by it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn services(&self) -> &Arc<ServiceAccess> {
        &self.services
    }

    pub fn fragments(&self) -> &Fragments {
        &self.fragments
    }

    /// Invalidates cached stages (see `FragmentCache::invalidate`).
    pub fn invalidate(&self, targets: &Targets, mode: Mode, dry_run: bool) -> Impact {
        self.fragments.invalidate(targets, mode, dry_run)
    }

    pub fn portal(&self) -> &Arc<Portal> {
        &self.portal
    }

    /// The requested page (or the home page), if it exists and the request may see it.
    pub fn resolve_page(
        &self,
        request: &PortalRequest,
    ) -> Result<Arc<tessera_descriptors::PageDef>, EngineError> {
        let id = request
            .page
            .as_deref()
            .unwrap_or(&self.portal.settings.portal.home);
        let page = self
            .portal
            .pages
            .get(id)
            .ok_or_else(|| EngineError::PageNotFound(id.to_owned()))?;
        if !request.allows(&page.access) {
            return Err(EngineError::Forbidden(id.to_owned()));
        }
        Ok(page.clone())
    }

    /// The page instance `planned` makes for `request` (the page stage's key).
    pub fn instance<'a>(
        &self,
        page: &'a tessera_descriptors::PageDef,
        planned: &[personalize::Planned<'_>],
        request: &PortalRequest,
    ) -> page_cache::Instance<'a> {
        page_cache::instance(
            self.generation,
            &self.fragments,
            &self.analysis,
            page,
            planned,
            request,
        )
    }

    /// Assembles a page: every slot produced (from the fragments' cached stages where
    /// possible), the layout rendered around them or the cached page reused. Fails only
    /// when the page does not exist or its layout fails; a failing fragment never fails
    /// the page.
    pub async fn render_page(&self, request: &PortalRequest) -> Result<PageOutput, EngineError> {
        let page = self.resolve_page(request)?;
        let planned = personalize::plan(&self.portal, &page, request);
        let instance = self.instance(&page, &planned, request);
        self.assemble(&page, planned, &instance, request).await
    }

    /// A page as a browser gets it: whole from the page cache when the cached page of
    /// this request's instance is still current ([`page_cache::whole`]: one lookup, no
    /// fragment produced, `slots` empty), else as [`Engine::render_page`] assembles it.
    pub async fn serve_page(&self, request: &PortalRequest) -> Result<PageOutput, EngineError> {
        let page = self.resolve_page(request)?;
        let planned = personalize::plan(&self.portal, &page, request);
        let instance = self.instance(&page, &planned, request);
        if let Some(out) = page_cache::whole(&self.fragments, &page, &instance) {
            return Ok(out);
        }
        // Boxed: the assembly's future (the whole fan-out) is large, and inline it would
        // make every hit's future as large, to be moved and boxed by the router.
        Box::pin(self.assemble(&page, planned, &instance, request)).await
    }

    async fn assemble(
        &self,
        page: &tessera_descriptors::PageDef,
        planned: Vec<personalize::Planned<'_>>,
        instance: &page_cache::Instance<'_>,
        request: &PortalRequest,
    ) -> Result<PageOutput, EngineError> {
        let slots = assemble::produce_planned(&self.fragments, page, request, planned).await;
        for s in &slots {
            self.metrics.fragment(&s.result);
        }
        tracing::debug!(page = %page.id, slowest = ?assemble::total(&slots), "page assembled");
        assemble::page_stage(&self.fragments, page, slots, request, instance)
    }

    /// Renders a portal-level page (`errors/404.html`, `auth/login.html`, …) with
    /// `portal`, `nav`, `path`, `user` and the given extra values; `None` when the
    /// template is missing or fails.
    pub fn render_portal_page(
        &self,
        template: &str,
        request: &PortalRequest,
        extra: minijinja::Value,
    ) -> Option<String> {
        if !self.portal.templates.contains(template) {
            return None;
        }
        let ctx = context! {
            portal => assemble::portal_value(&self.portal),
            nav => assemble::nav(&self.portal, None, request),
            path => &request.path,
            user => minijinja::Value::from_serialize(&request.viewer),
            ..extra
        };
        match self.fragments.renderer().render(template, ctx) {
            Ok(html) => Some(html),
            Err(e) => {
                tracing::error!(template, error = %e, "portal page failed");
                None
            }
        }
    }

    /// The fragments this request may add to a customizable page.
    pub fn catalog(&self, request: &PortalRequest) -> Vec<&tessera_descriptors::FragmentDef> {
        personalize::catalog(&self.portal, request)
    }
}
