//! Producing one fragment instance: parameters → backend request → model → markup.
//!
//! Every path ends in a [`FragmentResult`]; failures become `timeout`/`error` results, or
//! `fallback` when the fragment declares one. Children of composite fragments are
//! produced concurrently in the same task (no spawning: a dropped page request drops
//! them, and their backend calls, with it).

use std::sync::Arc;

use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use minijinja::{context, Value};
use tessera_descriptors::{Fallback, Format, FragmentDef, Portal};
use tessera_service_access::{BackendRequest, CallError, ServiceAccess};
use tokio::time::Instant;

use crate::context::{Params, Viewer};
use crate::model::{read_body, select, Model};
use crate::render::Renderer;
use crate::result::{FragmentResult, Status};

/// The fragment layer of one portal version.
pub struct Fragments {
    portal: Arc<Portal>,
    services: Arc<ServiceAccess>,
    renderer: Arc<Renderer>,
}

/// Why a fragment has no content of its own.
struct Failure {
    status: Status,
    message: String,
}

impl Failure {
    fn error(message: String) -> Self {
        Self {
            status: Status::Error,
            message,
        }
    }
}

impl Fragments {
    pub fn new(portal: Arc<Portal>, services: Arc<ServiceAccess>, renderer: Arc<Renderer>) -> Self {
        Self {
            portal,
            services,
            renderer,
        }
    }

    pub fn portal(&self) -> &Arc<Portal> {
        &self.portal
    }

    pub fn renderer(&self) -> &Arc<Renderer> {
        &self.renderer
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

    /// Produces a fragment; never fails (see the module docs).
    pub fn produce<'a>(
        &'a self,
        def: &'a FragmentDef,
        params: Params,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, FragmentResult> {
        async move {
            let started = Instant::now();
            let params = Self::resolve_params(def, &params);
            let outcome = self.content(def, &params, viewer).await;
            let elapsed = started.elapsed();
            match outcome {
                Ok((html, model)) => FragmentResult {
                    id: def.id.clone(),
                    title: def.title.clone(),
                    status: Status::Ok,
                    html,
                    message: None,
                    cause: None,
                    elapsed,
                    model,
                },
                Err(f) => self.failed(def, f.status, f.message, elapsed),
            }
        }
        .boxed()
    }

    /// The result for a fragment that has no content: its fallback when it declares one.
    pub fn failed(
        &self,
        def: &FragmentDef,
        cause: Status,
        message: String,
        elapsed: std::time::Duration,
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
        }
    }

    async fn content(
        &self,
        def: &FragmentDef,
        params: &Params,
        viewer: &Viewer,
    ) -> Result<(String, Option<serde_json::Value>), Failure> {
        let model = match &def.source {
            Some(source) => Some(self.fetch_model(def, source, params, viewer).await?),
            None => None,
        };
        let children = if def.includes.is_empty() {
            Vec::new()
        } else {
            join_all(def.includes.iter().filter_map(|inc| {
                let child = self.portal.fragments.get(&inc.fragment)?;
                Some(self.produce(child, Params::new(), viewer))
            }))
            .await
        };
        let json = model.as_ref().map(Model::to_json);
        let html = match (&def.template, &model) {
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
                let ctx = context! {
                    model => model_value,
                    params => Value::from_serialize(params),
                    user => Value::from_serialize(viewer),
                    fragment => context! { id => &def.id, title => &def.title },
                    children => children,
                };
                self.renderer
                    .render(template, ctx)
                    .map_err(|e| Failure::error(e.to_string()))?
            }
            (None, Some(Model::Markup(markup))) => markup.clone(),
            (None, _) => children.iter().map(|c| c.html.as_str()).collect(),
        };
        Ok((html, json))
    }

    async fn fetch_model(
        &self,
        def: &FragmentDef,
        source: &tessera_descriptors::SourceDef,
        params: &Params,
        viewer: &Viewer,
    ) -> Result<Model, Failure> {
        let path = source.path.render(
            |name| match params.get(name) {
                Some(tessera_descriptors::ParamValue::List(items)) => items.clone(),
                Some(v) => vec![v.to_path_value()],
                None => Vec::new(),
            },
            &viewer.id,
        );
        let request = BackendRequest {
            path_and_query: path,
            headers: Vec::new(),
        };
        let response = self
            .services
            .call(&source.service, &request)
            .await
            .map_err(|e| Failure {
                status: match e {
                    CallError::Timeout(_) => Status::Timeout,
                    CallError::Disabled(_) => Status::Disabled,
                    CallError::BreakerOpen(_) | CallError::Overloaded(_) => Status::Unavailable,
                    _ => Status::Error,
                },
                message: format!("{}: {e}", source.service),
            })?;
        let format = self.portal.format_of(def).unwrap_or(Format::Json);
        let model = read_body(format, response.content_type(), &response.body)
            .map_err(|m| Failure::error(format!("{}: {m}", source.service)))?;
        match &def.select {
            Some(path) => {
                select(model, path).map_err(|m| Failure::error(format!("{}: {m}", source.service)))
            }
            None => Ok(model),
        }
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
    }
}

fn escape_html(s: &str) -> String {
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
