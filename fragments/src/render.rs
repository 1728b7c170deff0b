//! Template rendering over the portal's in-memory template set.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Value};
use tessera_descriptors::Templates;

/// Renders fragments, fallbacks and layouts. Built once per portal version; templates are
/// compiled on first use and kept compiled.
pub struct Renderer {
    env: Environment<'static>,
}

/// A template that failed while rendering (a compile error is caught at load time).
#[derive(Debug, Clone, thiserror::Error)]
#[error("template \"{template}\" failed: {detail}")]
pub struct RenderError {
    pub template: String,
    pub detail: String,
}

impl Renderer {
    /// `fuel` bounds the instructions one render may execute, so that a template with a
    /// runaway loop fails instead of holding a core.
    pub fn new(templates: &Templates, fuel: u64) -> Self {
        let sources: Arc<BTreeMap<String, Arc<str>>> = Arc::new(
            templates
                .iter()
                .map(|(name, t)| (name.clone(), t.source.clone()))
                .collect(),
        );
        let mut env = Environment::new();
        env.set_loader(move |name| Ok(sources.get(name).map(|s| s.to_string())));
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".htm") || name.ends_with(".xml") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_fuel(Some(fuel));
        Self { env }
    }

    pub fn render(&self, template: &str, ctx: Value) -> Result<String, RenderError> {
        let fail = |e: minijinja::Error| RenderError {
            template: template.to_owned(),
            detail: detail(&e),
        };
        self.env
            .get_template(template)
            .map_err(fail)?
            .render(ctx)
            .map_err(fail)
    }
}

fn detail(e: &minijinja::Error) -> String {
    let mut out = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    if let Some(line) = e.line() {
        out.push_str(&format!(" (line {line})"));
    }
    out
}
