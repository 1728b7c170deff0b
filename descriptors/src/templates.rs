//! The template set: every file below the templates folder, held in memory so that a
//! portal version is one immutable value (templates and descriptors swap together).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diag::{Diagnostics, Location};

/// Template sources by name (`fragments/news.html`), with a version per template that
/// changes whenever its source does (used in cache keys).
#[derive(Debug, Clone, Default)]
pub struct Templates {
    sources: BTreeMap<String, Template>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub source: Arc<str>,
    /// Where the template came from, for messages (`templates/fragments/news.html`).
    pub label: Arc<str>,
    /// A hash of the source.
    pub version: u64,
}

impl Templates {
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        label: impl Into<Arc<str>>,
        source: impl Into<Arc<str>>,
    ) {
        let source: Arc<str> = source.into();
        let version = fnv1a(source.as_bytes());
        self.sources.insert(
            name.into(),
            Template {
                source,
                label: label.into(),
                version,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&Template> {
        self.sources.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Template)> {
        self.sources.iter()
    }

    /// Compiles every template, reporting syntax errors with their line.
    pub fn check(&self, diags: &mut Diagnostics) {
        let env = minijinja::Environment::new();
        for (name, t) in &self.sources {
            if let Err(e) = env.template_from_named_str(name.as_str(), &t.source) {
                let line = e.line().unwrap_or(1) as u32;
                let detail = e
                    .detail()
                    .map_or_else(|| e.kind().to_string(), str::to_owned);
                diags.push(
                    Location::new(t.label.clone(), line, 1),
                    format!("template does not compile: {}: {detail}", e.kind()),
                );
            }
        }
    }
}

/// FNV-1a: a stable, dependency-free content hash (not a security boundary).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
