//! Producing one fragment instance through its cached stages:
//! source (backend response) → model (parsed, selected) → rendered (markup).
//!
//! Each stage is looked up before it is computed, inline in the request's task: a hit
//! costs a hash-map lookup, and only misses reach the backend — coalesced, under the
//! service's policy. Every path ends in a [`FragmentResult`]; failures become `timeout`,
//! `error`, `disabled` or `unavailable` results, or `stale` when the lifecycle allows
//! the last good content, or `fallback` when the fragment declares one. Children of
//! composite fragments are produced concurrently in the same task (no spawning: a
//! dropped page request drops them, and their backend calls, with it).

use std::sync::Arc;
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use minijinja::{context, Value};
use tessera_descriptors::{
    Fallback, Format, FragmentDef, LifecycleDef, OnInvalidate, ParamValue, Portal, SourceDef,
};
use tessera_service_access::{CallError, ServiceAccess};
use tokio::time::Instant;

use crate::cache::{
    ChannelKey, Deps, Entry, FragmentCache, Impact, KeyHasher, Mode, StageKey, StageValue, Targets,
};
use crate::context::{Params, Profile, RenderContext, Viewer};
use crate::lifecycle::{fresh_until_ms, freshness, Freshness};
use crate::model::{read_body, select, Model};
use crate::render::Renderer;
use crate::result::{FragmentResult, Origin, Status};
use crate::source::{
    Derived, Fetch, FetchKind, FetchPlan, Inflight, Keep, ObjectKeyPolicy, SourceStage,
};

/// The fragment layer of one portal version. The cache and the in-flight fetches
/// outlive portal versions (they are shared, not owned).
pub struct Fragments {
    portal: Arc<Portal>,
    renderer: Arc<Renderer>,
    sources: SourceStage,
}

/// The long-lived part of the fragment layer: cache and in-flight fetches survive a
/// change of descriptors.
#[derive(Clone)]
pub struct FragmentState {
    pub cache: Arc<FragmentCache>,
    pub inflight: Arc<Inflight>,
}

impl FragmentState {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: Arc::new(FragmentCache::new(max_bytes)),
            inflight: Arc::default(),
        }
    }
}

/// Why a fragment has no content of its own.
struct Failure {
    status: Status,
    message: String,
    redirect: Option<String>,
}

impl Failure {
    fn error(message: String) -> Self {
        Self {
            status: Status::Error,
            message,
            redirect: None,
        }
    }

    fn from_call(service: &str, e: &CallError) -> Self {
        Self {
            status: match e {
                CallError::Timeout(_) => Status::Timeout,
                CallError::Disabled(_) => Status::Disabled,
                CallError::BreakerOpen(_) | CallError::Overloaded(_) => Status::Unavailable,
                _ => Status::Error,
            },
            message: format!("{service}: {e}"),
            redirect: match e {
                CallError::Status(s) => s.location.clone(),
                _ => None,
            },
        }
    }
}

/// The source stage's answer for one use.
struct SourceUse {
    entry: Arc<Entry>,
    /// Stored in the cache (derived stages may be cached too).
    cached: bool,
    origin: Origin,
    /// Served stale because of this failure.
    stale: Option<Failure>,
    age: Duration,
    /// Until when it is fresh for this fragment (see [`FragmentResult::fresh_until_ms`]).
    fresh_until_ms: u64,
    /// Not cached: the stages derived from it, shared by the requests that joined its
    /// fetch ([`Derived`]).
    derived: Option<Arc<Derived>>,
}

/// Content produced for a fragment.
struct Content {
    html: String,
    model: Option<serde_json::Value>,
    version: Option<u64>,
    per_user: bool,
    origin: Origin,
    age: Duration,
    stale: Option<Failure>,
    fresh_until_ms: u64,
}

impl Fragments {
    pub fn new(
        portal: Arc<Portal>,
        services: Arc<ServiceAccess>,
        renderer: Arc<Renderer>,
        state: &FragmentState,
    ) -> Self {
        let keys = Arc::new(ObjectKeyPolicy::new(&portal.settings.cache));
        Self {
            portal,
            renderer,
            sources: SourceStage {
                services,
                cache: state.cache.clone(),
                inflight: state.inflight.clone(),
                keys,
            },
        }
    }

    pub fn portal(&self) -> &Arc<Portal> {
        &self.portal
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
    }

    pub fn cache(&self) -> &Arc<FragmentCache> {
        &self.sources.cache
    }

    pub fn inflight(&self) -> &Arc<Inflight> {
        &self.sources.inflight
    }

    /// The fragment's parameters: its defaults overlaid by the given values.
    pub fn resolve_params(def: &FragmentDef, given: &Params) -> Params {
        let mut params = def.default_params();
        for (k, v) in given {
            if params.contains_key(k) {
                params.insert(k.clone(), v.clone());
            }
        }
        params
    }

    /// Produces a fragment for the HTML channel with an empty profile.
    pub fn produce<'a>(
        &'a self,
        def: &'a FragmentDef,
        params: Params,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, FragmentResult> {
        async move {
            let profile = Profile::default();
            let ctx = RenderContext {
                viewer,
                channel: ChannelKey::Html,
                profile: &profile,
                trace: None,
            };
            self.produce_in(def, params, &ctx).await
        }
        .boxed()
    }

    /// Produces a fragment; never fails (see the module docs).
    pub fn produce_in<'a>(
        &'a self,
        def: &'a FragmentDef,
        params: Params,
        ctx: &'a RenderContext<'a>,
    ) -> BoxFuture<'a, FragmentResult> {
        async move {
            let started = Instant::now();
            let params = Self::resolve_params(def, &params);
            // A panic in one fragment (a template function, a bug) becomes that fragment's
            // error, never a dropped connection or a failed page.
            let outcome = std::panic::AssertUnwindSafe(self.content(def, &params, ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(fragment = %def.id, panic = %what, "fragment production panicked");
                    Err(Failure::error("the fragment failed unexpectedly".into()))
                });
            let elapsed = started.elapsed();
            match outcome {
                Ok(c) => {
                    let reusable = c.stale.is_none();
                    let (status, message) = match c.stale {
                        Some(f) => (
                            Status::Stale,
                            Some(format!(
                                "showing content from {} ago: {}",
                                human(c.age),
                                f.message
                            )),
                        ),
                        None => (Status::Ok, None),
                    };
                    FragmentResult {
                        id: def.id.clone(),
                        title: def.title.clone(),
                        status,
                        html: c.html,
                        message,
                        cause: None,
                        elapsed,
                        model: c.model,
                        version: c.version,
                        per_user: c.per_user,
                        age: c.age,
                        origin: c.origin,
                        max_age: def.lifecycle.max_age,
                        redirect: None,
                        fresh_until_ms: if reusable { c.fresh_until_ms } else { 0 },
                    }
                }
                Err(f) => {
                    let mut r = self.failed(def, f.status, f.message, elapsed);
                    r.redirect = f.redirect;
                    r
                }
            }
        }
        .boxed()
    }

    /// A result for a fragment that is deliberately not produced (forbidden, minimized):
    /// nothing is fetched or rendered.
    pub fn placeholder(
        &self,
        def: &FragmentDef,
        status: Status,
        message: Option<String>,
    ) -> FragmentResult {
        FragmentResult {
            id: def.id.clone(),
            title: def.title.clone(),
            status,
            html: String::new(),
            message,
            cause: None,
            elapsed: Duration::ZERO,
            model: None,
            version: None,
            per_user: false,
            age: Duration::ZERO,
            origin: Origin::Local,
            max_age: def.lifecycle.max_age,
            redirect: None,
            // Nothing was produced: it stays what it is as long as the request's plan does.
            fresh_until_ms: u64::MAX,
        }
    }

    /// The result for a fragment that has no content: its fallback when it declares one.
    pub fn failed(
        &self,
        def: &FragmentDef,
        cause: Status,
        message: String,
        elapsed: Duration,
    ) -> FragmentResult {
        let fallback = match &def.fallback {
            Some(Fallback::Template(t)) => {
                let ctx = context! {
                    fragment => context! { id => &def.id, title => &def.title },
                    status => cause.as_str(),
                    message => &message,
                };
                match self.renderer.render(t, ctx) {
                    Ok(html) => Some(html),
                    Err(e) => {
                        tracing::warn!(fragment = %def.id, error = %e, "fallback template failed");
                        None
                    }
                }
            }
            Some(Fallback::Message(m)) => Some(escape_html(m)),
            None => None,
        };
        let (status, cause, html) = match fallback {
            Some(html) => (Status::Fallback, Some(cause), html),
            None => (cause, None, String::new()),
        };
        FragmentResult {
            id: def.id.clone(),
            title: def.title.clone(),
            status,
            html,
            message: Some(message),
            cause,
            elapsed,
            model: None,
            version: None,
            per_user: false,
            age: Duration::ZERO,
            origin: Origin::Fallback,
            max_age: def.lifecycle.max_age,
            redirect: None,
            fresh_until_ms: 0,
        }
    }

    async fn content(
        &self,
        def: &FragmentDef,
        params: &Params,
        ctx: &RenderContext<'_>,
    ) -> Result<Content, Failure> {
        let viewer = ctx.viewer;
        let source = match &def.source {
            Some(src) => Some(
                self.source_stage(def, src, params, viewer, ctx.trace)
                    .await?,
            ),
            None => None,
        };
        let children = if def.includes.is_empty() {
            Vec::new()
        } else {
            join_all(def.includes.iter().filter_map(|inc| {
                let child = self.portal.fragments.get(&inc.fragment)?;
                Some(self.produce_in(child, Params::new(), ctx))
            }))
            .await
        };
        let cache = &self.sources.cache;
        let template = def
            .template
            .as_deref()
            .map(|t| self.renderer.for_channel(t, ctx.channel.rendering()));
        let template_reads_user = template
            .as_deref()
            .is_some_and(|t| self.renderer.reads_user(t));
        let reads_profile = template
            .as_deref()
            .is_some_and(|t| self.renderer.reads_profile(t));
        let source_per_user = source
            .as_ref()
            .is_some_and(|s| s.entry.source().is_some_and(|d| d.user.is_some()));
        let per_user =
            template_reads_user || source_per_user || children.iter().any(|c| c.per_user);
        let user_key: Option<Arc<str>> = per_user.then(|| Arc::from(viewer.id.as_str()));
        let cacheable = source.as_ref().is_none_or(|s| s.cached)
            && children.iter().all(|c| c.version.is_some());
        let source_version = source.as_ref().map_or(0, |s| s.entry.version);
        let rendered_key = StageKey::Rendered {
            fragment: Arc::from(def.id.as_str()),
            definition: def.fingerprint,
            source_version,
            template_version: template.as_deref().map_or(0, |t| self.renderer.version(t)),
            channel: ctx.channel.rendering(),
            params: params_hash(params),
            children: children
                .iter()
                .fold(KeyHasher::default(), |mut h, c| {
                    h.u64(c.version.unwrap_or(0));
                    h
                })
                .finish(),
            profile: if reads_profile { ctx.profile.hash() } else { 0 },
            user: user_key.clone(),
        };
        let (origin, age, stale) = match source {
            Some(ref s) => (s.origin, s.age, None),
            None => (Origin::Local, Duration::ZERO, None),
        };
        // Fresh as long as its source and every child are; a fragment without a backend
        // by its own ttl from when its markup was rendered.
        let children_fresh_until = children
            .iter()
            .map(|c| c.fresh_until_ms)
            .min()
            .unwrap_or(u64::MAX);
        let fresh_until = |rendered: &Entry| {
            let own = match &source {
                Some(s) => s.fresh_until_ms,
                None => def.lifecycle.ttl.map_or(u64::MAX, |ttl| {
                    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                    rendered.validated_at_ms().saturating_add(ttl_ms)
                }),
            };
            own.min(children_fresh_until)
        };
        let mut content = Content {
            html: String::new(),
            model: None,
            version: None,
            per_user,
            origin,
            age,
            stale,
            fresh_until_ms: 0,
        };
        // A response not stored, whose fetch other requests joined: the first of them to
        // get here renders, the others take its markup. The key says everything the
        // markup depends on once every child has a version (children without one are
        // not in it).
        let derived = source
            .as_ref()
            .and_then(|s| s.derived.clone())
            .filter(|_| children.iter().all(|c| c.version.is_some()));
        let hit = cacheable
            .then(|| cache.get(&rendered_key))
            .flatten()
            .filter(|e| self.local_fresh(def, e, source.is_none()));
        let markup = match &hit {
            Some(hit) => {
                content.version = Some(hit.version);
                content.fresh_until_ms = fresh_until(hit);
                if source.is_none() {
                    content.origin = Origin::Cache;
                }
                Some(hit.markup().cloned().unwrap_or_default())
            }
            None => match derived.as_ref().and_then(|d| d.get(&rendered_key)) {
                Some(StageValue::Markup(m)) => Some(m),
                _ => None,
            },
        };
        if let Some(markup) = markup {
            content.html = markup.to_string();
            // The data model is copied out only for the JSON channel: an HTML page
            // served from the cache never touches it.
            content.model = match &source {
                Some(s) if ctx.channel == ChannelKey::Json => {
                    self.model_stage(def, s)?.map(|m| m.to_json())
                }
                _ => None,
            };
            content.stale = source.and_then(|s| s.stale);
            return Ok(content);
        }
        let model = match &source {
            Some(s) => self.model_stage(def, s)?,
            None => None,
        };
        let html = match (&template, &model) {
            (Some(template), _) => {
                let model_value = match &model {
                    Some(Model::Markup(s)) => Value::from_safe_string(s.clone()),
                    Some(Model::Data(v)) => Value::from_serialize(v),
                    None => Value::from(()),
                };
                let children: std::collections::BTreeMap<&str, Value> = children
                    .iter()
                    .map(|c| (c.id.as_str(), result_value(c, false)))
                    .collect();
                // The user is in the context only when the entry is keyed by user: a
                // template that does not read it cannot leak it into a shared entry.
                let user = if per_user {
                    Value::from_serialize(viewer)
                } else {
                    Value::UNDEFINED
                };
                let profile = if reads_profile {
                    ctx.profile.to_value()
                } else {
                    Value::UNDEFINED
                };
                let values = context! {
                    model => model_value,
                    params => Value::from_serialize(params),
                    user => user,
                    profile => profile,
                    fragment => context! { id => &def.id, title => &def.title },
                    children => children,
                };
                self.renderer
                    .render(template, values)
                    .map_err(|e| Failure::error(e.to_string()))?
            }
            (None, Some(Model::Markup(markup))) => markup.clone(),
            (None, _) => children.iter().map(|c| c.html.as_str()).collect(),
        };
        if let Some(derived) = derived {
            // Not stored (its source is not), so not cacheable: the key serves here.
            derived.put(rendered_key, StageValue::Markup(Arc::from(html.as_str())));
        } else if cacheable {
            let model_version = source.as_ref().and_then(|s| {
                cache
                    .peek(&StageKey::Model {
                        fragment: Arc::from(def.id.as_str()),
                        definition: def.fingerprint,
                        source_version: s.entry.version,
                    })
                    .map(|e| e.version)
            });
            let mut deps = Deps {
                entries: children.iter().filter_map(|c| c.version).collect(),
                fragment: Some(Arc::from(def.id.as_str())),
                user: user_key,
                templates: template.iter().map(|t| Arc::from(t.as_ref())).collect(),
                ..Deps::default()
            };
            match (&source, model_version) {
                (Some(_), Some(v)) => deps.entries.push(v),
                (Some(s), None) => deps.entries.push(s.entry.version),
                (None, _) => {
                    deps.objects = def
                        .depends_on
                        .iter()
                        .map(|o| Arc::from(o.as_str()))
                        .collect()
                }
            }
            let keep = source.as_ref().map_or(Duration::from_secs(24 * 3600), |s| {
                s.entry.retain_for.max(Duration::from_secs(1))
            });
            let value = StageValue::Markup(Arc::from(html.as_str()));
            // With a backend, the key (source version, template, parameters, viewer)
            // fixes the markup: a concurrent request's equal entry is kept. Without one,
            // an entry under the key may be one that aged past the fragment's ttl, which
            // this render replaces.
            let entry = if source.is_some() {
                cache.insert_or_keep(rendered_key, value, &deps, keep)
            } else {
                cache.insert(rendered_key, value, &deps, keep)
            };
            content.version = Some(entry.version);
            content.fresh_until_ms = fresh_until(&entry);
        }
        content.html = html;
        content.model = model
            .as_ref()
            .filter(|_| ctx.channel == ChannelKey::Json)
            .map(Model::to_json);
        content.stale = source.and_then(|s| s.stale);
        Ok(content)
    }

    /// A rendered entry of a fragment without a backend ages by its own lifecycle ttl.
    fn local_fresh(&self, def: &FragmentDef, entry: &Entry, local: bool) -> bool {
        if !local {
            return true;
        }
        match def.lifecycle.ttl {
            None => true,
            Some(ttl) => {
                let age = self
                    .sources
                    .cache
                    .now_ms()
                    .saturating_sub(entry.validated_at_ms());
                Duration::from_millis(age) < ttl && !entry.is_stale()
            }
        }
    }

    fn model_stage(&self, def: &FragmentDef, source: &SourceUse) -> Result<Option<Model>, Failure> {
        let cache = &self.sources.cache;
        let key = StageKey::Model {
            fragment: Arc::from(def.id.as_str()),
            definition: def.fingerprint,
            source_version: source.entry.version,
        };
        if source.cached {
            if let Some(hit) = cache.get(&key) {
                return Ok(hit.model().cloned());
            }
        } else if let Some(StageValue::Model(model)) =
            source.derived.as_ref().and_then(|d| d.get(&key))
        {
            return Ok(Some(model));
        }
        let Some(data) = source.entry.source() else {
            return Ok(None);
        };
        let service = &data.service;
        let format = self.portal.format_of(def).unwrap_or(Format::Json);
        let mut model = read_body(format, data.content_type.as_deref(), &data.body)
            .map_err(|m| Failure::error(format!("{service}: {m}")))?;
        if let Some(path) = &def.select {
            model = select(model, path).map_err(|m| Failure::error(format!("{service}: {m}")))?;
        }
        if let Model::Markup(html) = &model {
            // Ready-made markup is the backend's, not ours: sanitized unless an operator
            // listed the fragment as raw.
            let raw = self
                .portal
                .settings
                .security
                .raw_html_fragments
                .contains(&def.id);
            if !raw {
                model = Model::Markup(crate::sanitize::clean(html));
            }
        }
        if let Some(derived) = &source.derived {
            derived.put(key, StageValue::Model(model.clone()));
        } else if source.cached {
            let deps = Deps {
                entries: vec![source.entry.version],
                fragment: Some(Arc::from(def.id.as_str())),
                ..Deps::default()
            };
            cache.insert_or_keep(
                key,
                StageValue::Model(model.clone()),
                &deps,
                source.entry.retain_for,
            );
        }
        Ok(Some(model))
    }

    async fn source_stage(
        &self,
        def: &FragmentDef,
        src: &SourceDef,
        params: &Params,
        viewer: &Viewer,
        trace: Option<&crate::trace::RequestTrace>,
    ) -> Result<SourceUse, Failure> {
        // The request's ids go to the backend; a coalesced fetch carries its starter's.
        let request_headers = trace.map_or_else(Vec::new, |t| t.backend_headers());
        let cache = &self.sources.cache;
        let path: Arc<str> = Arc::from(
            src.path
                .render(
                    |name| match params.get(name) {
                        Some(ParamValue::List(items)) => items.clone(),
                        Some(v) => vec![v.to_path_value()],
                        None => Vec::new(),
                    },
                    &viewer.id,
                )
                .as_str(),
        );
        let user: Option<Arc<str>> = src.path.reads_user().then(|| Arc::from(viewer.id.as_str()));
        let service: Arc<str> = Arc::from(src.service.as_str());
        let key = StageKey::Source {
            service: service.clone(),
            path: path.clone(),
            user: user.clone(),
        };
        let now = cache.now_ms();
        let existing = cache.get(&key);
        let age_of = |e: &Entry| Duration::from_millis(now.saturating_sub(e.validated_at_ms()));
        let plan = |previous: Option<Arc<Entry>>| FetchPlan {
            key: key.clone(),
            service: service.clone(),
            path: path.clone(),
            user: user.clone(),
            previous,
            keep: Keep::Lifecycle(def.lifecycle.clone()),
            objects: def
                .depends_on
                .iter()
                .map(|o| Arc::from(o.as_str()))
                .collect(),
            fragment: Some(Arc::from(def.id.as_str())),
            refresh_on_invalidate: def.lifecycle.on_invalidate == OnInvalidate::Refresh,
            request_headers: request_headers.clone(),
        };
        let mut usable_on_error = None;
        if let Some(e) = existing {
            match freshness(&e, &def.lifecycle, now) {
                Freshness::Fresh => {
                    return Ok(SourceUse {
                        age: age_of(&e),
                        fresh_until_ms: fresh_until_ms(&e, &def.lifecycle),
                        entry: e,
                        cached: true,
                        origin: Origin::Cache,
                        stale: None,
                        derived: None,
                    });
                }
                Freshness::Revalidate => {
                    self.sources.refresh_in_background(plan(Some(e.clone())));
                    return Ok(SourceUse {
                        age: age_of(&e),
                        entry: e,
                        cached: true,
                        origin: Origin::Stale,
                        stale: None,
                        fresh_until_ms: 0,
                        derived: None,
                    });
                }
                Freshness::OnErrorOnly => usable_on_error = Some(e.clone()),
                Freshness::Expired => {}
            }
            match self.sources.fetch(plan(Some(e))).await {
                Ok(fetch) => return Ok(fetched(fetch, &def.lifecycle)),
                Err(err) => {
                    let failure = Failure::from_call(&src.service, &err);
                    return match usable_on_error {
                        Some(e) => Ok(SourceUse {
                            age: age_of(&e),
                            entry: e,
                            cached: true,
                            origin: Origin::Stale,
                            stale: Some(failure),
                            fresh_until_ms: 0,
                            derived: None,
                        }),
                        None => Err(failure),
                    };
                }
            }
        }
        match self.sources.fetch(plan(None)).await {
            Ok(fetch) => Ok(fetched(fetch, &def.lifecycle)),
            Err(err) => Err(Failure::from_call(&src.service, &err)),
        }
    }

    /// Invalidates cached stages; sources whose fragments say `on-invalidate="refresh"`
    /// (or all, in refresh mode) are fetched again in the background.
    pub fn invalidate(&self, targets: &Targets, mode: Mode, dry_run: bool) -> Impact {
        let (impact, refresh) = self.sources.cache.invalidate(targets, mode, dry_run, |e| {
            e.source().is_some_and(|s| s.refresh_on_invalidate)
        });
        for entry in refresh {
            let Some(data) = entry.source() else { continue };
            let plan = FetchPlan {
                key: StageKey::Source {
                    service: data.service.clone(),
                    path: data.path.clone(),
                    user: data.user.clone(),
                },
                service: data.service.clone(),
                path: data.path.clone(),
                user: data.user.clone(),
                // No validators: a refresh asks for the data, not whether it changed.
                previous: None,
                keep: Keep::Like(entry.retain_for),
                objects: data.object_keys.clone(),
                fragment: None,
                refresh_on_invalidate: data.refresh_on_invalidate,
                request_headers: Vec::new(),
            };
            self.sources.refresh_in_background(plan);
        }
        impact
    }
}

fn fetched(fetch: Fetch, lifecycle: &LifecycleDef) -> SourceUse {
    let Fetch {
        entry,
        kind,
        derived,
    } = fetch;
    SourceUse {
        fresh_until_ms: match kind {
            FetchKind::Transient => 0,
            FetchKind::Stored | FetchKind::Revalidated => fresh_until_ms(&entry, lifecycle),
        },
        entry,
        cached: kind != FetchKind::Transient,
        origin: if kind == FetchKind::Revalidated {
            Origin::Revalidated
        } else {
            Origin::Backend
        },
        stale: None,
        age: Duration::ZERO,
        derived,
    }
}

fn params_hash(params: &Params) -> u64 {
    let mut h = KeyHasher::default();
    for (k, v) in params {
        h.bytes(k.as_bytes());
        match v {
            ParamValue::List(items) => {
                for i in items {
                    h.bytes(i.as_bytes());
                }
                h.bytes(b"]");
            }
            other => {
                h.bytes(other.to_path_value().as_bytes());
            }
        }
    }
    h.finish()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// The result object as templates see it (see docs/templates.md). `optional` says the
/// layout may leave the slot out when it has no content.
pub fn result_value(r: &FragmentResult, optional: bool) -> Value {
    context! {
        optional => optional,
        id => &r.id,
        title => &r.title,
        status => r.status.as_str(),
        ok => r.is_ok(),
        html => Value::from_safe_string(r.html.clone()),
        message => &r.message,
        cause => r.cause.map(Status::as_str),
        elapsed_ms => r.elapsed.as_millis() as u64,
        age_s => r.age.as_secs(),
        origin => r.origin.as_str(),
    }
}

/// Escapes text for HTML content and attribute values; the one escaper the portal's
/// own markup (fallback messages, status lines, built-in pages) uses.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_descriptors::{build, Kind, Sources};

    #[tokio::test]
    async fn a_panic_while_rendering_is_that_fragments_error() {
        let mut sources = Sources::default();
        sources.add_file(
            Kind::Fragment,
            "fragments/boom.xml",
            r#"<fragment id="boom"><template>boom.html</template><fallback>Boom is resting.</fallback></fragment>"#,
        );
        sources.add_file(
            Kind::Page,
            "pages/home.xml",
            r#"<page id="home" layout="page.html"><region name="main"><fragment ref="boom"/></region></page>"#,
        );
        sources
            .templates
            .insert("boom.html", "boom.html", "{{ explode() }}");
        sources
            .templates
            .insert("page.html", "page.html", "{{ fragments.boom.html }}");
        let portal = Arc::new(build(&sources).expect("valid"));
        let mut renderer = Renderer::new(&portal.templates, 100_000);
        renderer.add_test_function("explode", || -> String {
            panic!("template function blew up")
        });
        let services = Arc::new(ServiceAccess::new(&portal));
        let f = Fragments::new(
            portal.clone(),
            services,
            Arc::new(renderer),
            &FragmentState::new(1 << 20),
        );
        let viewer = Viewer::anonymous();
        let r = f
            .produce(&portal.fragments["boom"], Params::new(), &viewer)
            .await;
        assert_eq!((r.status, r.cause), (Status::Fallback, Some(Status::Error)));
        assert_eq!(
            r.message.as_deref(),
            Some("the fragment failed unexpectedly")
        );
        assert_eq!(r.html, "Boom is resting.");
    }
}
