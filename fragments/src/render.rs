//! Template rendering over the portal's in-memory template set.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::{AutoEscape, Environment, Value};
use tessera_descriptors::Templates;

/// Renders fragments, fallbacks and layouts. Built once per portal version; templates are
/// compiled on first use and kept compiled.
pub struct Renderer {
    env: Environment<'static>,
    /// Templates that read `user`, themselves or through a template they include,
    /// import or extend. Only those get the user in their context: a template that does
    /// not read the user renders the same for everyone and is cached once for all.
    reads_user: BTreeSet<String>,
    /// Likewise for `profile`: those entries are keyed by the profile's hash.
    reads_profile: BTreeSet<String>,
    /// Likewise for `csrf` (a session's token): those entries are keyed by it.
    reads_csrf: BTreeSet<String>,
    versions: HashMap<String, u64>,
    renders: Mutex<HashMap<String, u64>>,
    total_renders: AtomicU64,
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
        let refs = template_refs(templates);
        let versions = transitive_versions(templates, &refs);
        let reads_user = readers_of(&env, templates, &refs, "user");
        let reads_profile = readers_of(&env, templates, &refs, "profile");
        // Forms carry the session's token: `csrf` itself, or the `customize` panel.
        let mut reads_csrf = readers_of(&env, templates, &refs, "csrf");
        reads_csrf.extend(readers_of(&env, templates, &refs, "customize"));
        Self {
            env,
            reads_user,
            reads_profile,
            reads_csrf,
            versions,
            renders: Mutex::default(),
            total_renders: AtomicU64::new(0),
        }
    }

    /// Adds a template function (tests only: a function that panics, say).
    #[cfg(test)]
    pub(crate) fn add_test_function<F, Rv>(&mut self, name: &'static str, f: F)
    where
        F: Fn() -> Rv + Send + Sync + 'static,
        Rv: minijinja::value::FunctionResult,
    {
        self.env.add_function(name, f);
    }

    /// Whether the template (or one it pulls in) reads `user`.
    pub fn reads_user(&self, template: &str) -> bool {
        self.reads_user.contains(template)
    }

    /// Whether the template (or one it pulls in) reads `csrf`.
    pub fn reads_csrf(&self, template: &str) -> bool {
        self.reads_csrf.contains(template)
    }

    /// Whether the template (or one it pulls in) reads `profile`.
    pub fn reads_profile(&self, template: &str) -> bool {
        self.reads_profile.contains(template)
    }

    /// The template to use for a channel: the light channel's own variant
    /// (`light/<name>`) when the portal has one, else the HTML template.
    pub fn for_channel<'a>(
        &'a self,
        template: &'a str,
        channel: crate::cache::ChannelKey,
    ) -> std::borrow::Cow<'a, str> {
        if channel == crate::cache::ChannelKey::Light {
            let light = format!("light/{template}");
            if self.versions.contains_key(&light) {
                return std::borrow::Cow::Owned(light);
            }
        }
        std::borrow::Cow::Borrowed(template)
    }

    /// The template's content version (0 for an unknown template).
    pub fn version(&self, template: &str) -> u64 {
        self.versions.get(template).copied().unwrap_or(0)
    }

    /// How often a template was rendered (tests and metrics).
    pub fn render_count(&self, template: &str) -> u64 {
        self.renders
            .lock()
            .ok()
            .and_then(|r| r.get(template).copied())
            .unwrap_or(0)
    }

    pub fn total_renders(&self) -> u64 {
        self.total_renders.load(Ordering::Relaxed)
    }

    pub fn render(&self, template: &str, ctx: Value) -> Result<String, RenderError> {
        self.total_renders.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.renders.lock() {
            *r.entry(template.to_owned()).or_default() += 1;
        }
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

/// The templates reading `var`: directly (minijinja's undeclared variables) or through
/// any template they name (a quoted template name in their source, conservatively).
/// Which other templates each template names (includes, imports, extends — any string
/// literal equal to a template name, the safe side).
fn template_refs(templates: &Templates) -> BTreeMap<&str, Vec<&str>> {
    let names: Vec<&String> = templates.iter().map(|(n, _)| n).collect();
    templates
        .iter()
        .map(|(name, t)| {
            let named = names
                .iter()
                .filter(|other| {
                    other.as_str() != name.as_str()
                        && (t.source.contains(&format!("\"{other}\""))
                            || t.source.contains(&format!("'{other}'")))
                })
                .map(|o| o.as_str())
                .collect();
            (name.as_str(), named)
        })
        .collect()
}

/// Each template's version: a hash of its own source's version and those of every
/// template it pulls in, transitively — a changed macro file changes the version (and so
/// the cache keys) of every template that imports it.
fn transitive_versions(
    templates: &Templates,
    refs: &BTreeMap<&str, Vec<&str>>,
) -> HashMap<String, u64> {
    templates
        .iter()
        .map(|(name, _)| {
            let mut seen = BTreeSet::from([name.as_str()]);
            let mut todo = vec![name.as_str()];
            while let Some(t) = todo.pop() {
                for n in refs.get(t).into_iter().flatten() {
                    if seen.insert(n) {
                        todo.push(n);
                    }
                }
            }
            let version = seen.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, n| {
                let v = templates.get(n).map_or(0, |t| t.version);
                (h ^ v).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
            });
            (name.clone(), version)
        })
        .collect()
}

fn readers_of(
    env: &Environment<'static>,
    templates: &Templates,
    refs: &BTreeMap<&str, Vec<&str>>,
    var: &str,
) -> BTreeSet<String> {
    let mut direct = BTreeSet::new();
    for (name, _) in templates.iter() {
        let reads = env
            .get_template(name)
            .map(|tpl| tpl.undeclared_variables(false).contains(var))
            // A template that does not compile is reported at load time; treat it as
            // reading the user, the safe side.
            .unwrap_or(true);
        if reads {
            direct.insert(name.clone());
        }
    }
    // Propagate: a template naming a user-reader reads the user.
    let mut readers = direct;
    loop {
        let before = readers.len();
        for (name, named) in refs {
            if named.iter().any(|n| readers.contains(*n)) {
                readers.insert((*name).to_owned());
            }
        }
        if readers.len() == before {
            return readers;
        }
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
