//! What a change of the descriptor set changes: documents added, replaced and removed;
//! pages that gain, lose or change fragments; the cache entries it invalidates.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tessera_descriptors::{FragmentDef, PageDef, Portal};
use tessera_engine::Engine;
use tessera_fragments::cache::{Impact, Targets};

use super::docs::{DocKind, Docs};

/// The answer to a proposed or applied change.
#[derive(Debug, Default, Serialize)]
pub struct Preview {
    /// Documents (`fragment fx-rates`, `template fragments/fx.html`) that are new …
    pub added: Vec<String>,
    /// … replaced by another text …
    pub replaced: Vec<String>,
    /// … or gone.
    pub removed: Vec<String>,
    /// Pages whose content changes, by page id.
    pub pages: BTreeMap<String, PageChange>,
    /// The cached entries the change invalidates (hard), counted per fragment and page.
    pub invalidates: Impact,
}

/// How one page changes.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PageChange {
    /// `added`, `removed` or `changed`.
    pub status: &'static str,
    /// Fragments the page shows after the change and did not before.
    pub gains: Vec<String>,
    /// Fragments it no longer shows.
    pub loses: Vec<String>,
    /// Fragments it shows before and after whose definition, template, service or
    /// children change.
    pub changes: Vec<String>,
    /// The page's own descriptor or its layout template changes.
    pub layout_changed: bool,
}

/// Compares the running version with the proposed one. `invalidates` is left for the
/// caller (it asks the cache).
pub fn compare(
    old: &Engine,
    new_portal: &Portal,
    new_engine: &Engine,
    old_docs: &Docs,
    new_docs: &Docs,
) -> (Preview, Targets) {
    let old_portal = old.portal();
    let mut preview = Preview::default();
    for key in old_docs.changed_keys(new_docs) {
        let bucket = match (old_docs.0.contains_key(&key), new_docs.0.contains_key(&key)) {
            (false, _) => &mut preview.added,
            (true, true) => &mut preview.replaced,
            (true, false) => &mut preview.removed,
        };
        bucket.push(key.to_string());
    }
    let changed_docs = old_docs.changed_keys(new_docs);
    let changed =
        |kind: DocKind, name: &str| changed_docs.contains(&super::docs::DocKey::new(kind, name));
    // Templates whose version differs: their own text or one they pull in changed.
    let old_r = old.fragments().renderer();
    let new_r = new_engine.fragments().renderer();
    let template_names: BTreeSet<&String> = old_portal
        .templates
        .iter()
        .chain(new_portal.templates.iter())
        .map(|(n, _)| n)
        .collect();
    let changed_templates: BTreeSet<String> = template_names
        .into_iter()
        .filter(|n| {
            !old_portal.templates.contains(n)
                || !new_portal.templates.contains(n)
                || old_r.version(n) != new_r.version(n)
        })
        .cloned()
        .collect();
    let template_changed = |t: &str| {
        changed_templates.contains(t) || changed_templates.contains(&format!("light/{t}"))
    };
    // Fragments whose definition, service or lifecycle changed: all their stages go.
    // Those whose template changed lose only their rendered stages (by template).
    let redefined: BTreeSet<String> = new_portal
        .fragments
        .iter()
        .filter(|(id, f)| {
            changed(DocKind::Fragment, id)
                || f.source
                    .as_ref()
                    .is_some_and(|s| changed(DocKind::Service, &s.service))
                || f.lifecycle_ref
                    .as_ref()
                    .is_some_and(|l| changed(DocKind::Lifecycle, &l.id))
        })
        .map(|(id, _)| id.clone())
        .collect();
    // Fragments whose output may differ, children included.
    let mut changed_fragments = redefined.clone();
    for (id, f) in &new_portal.fragments {
        if f.template.as_deref().is_some_and(template_changed) {
            changed_fragments.insert(id.clone());
        }
    }
    loop {
        let before = changed_fragments.len();
        for (id, f) in &new_portal.fragments {
            if f.includes
                .iter()
                .any(|i| changed_fragments.contains(&i.fragment))
            {
                changed_fragments.insert(id.clone());
            }
        }
        if changed_fragments.len() == before {
            break;
        }
    }
    let page_ids: BTreeSet<&String> = old_portal
        .pages
        .keys()
        .chain(new_portal.pages.keys())
        .collect();
    for id in page_ids {
        let (before, after) = (old_portal.pages.get(id), new_portal.pages.get(id));
        let shown = |p: Option<&std::sync::Arc<PageDef>>, portal: &Portal| -> BTreeSet<String> {
            p.map(|p| shown_fragments(p, portal)).unwrap_or_default()
        };
        let (b, a) = (shown(before, old_portal), shown(after, new_portal));
        let change = PageChange {
            status: match (before, after) {
                (None, _) => "added",
                (_, None) => "removed",
                _ => "changed",
            },
            gains: a.difference(&b).cloned().collect(),
            loses: b.difference(&a).cloned().collect(),
            changes: a
                .intersection(&b)
                .filter(|f| changed_fragments.contains(*f))
                .cloned()
                .collect(),
            layout_changed: changed(DocKind::Page, id)
                || after.is_some_and(|p| template_changed(&p.layout)),
        };
        let unchanged = change.status == "changed"
            && change.gains.is_empty()
            && change.loses.is_empty()
            && change.changes.is_empty()
            && !change.layout_changed;
        if !unchanged {
            preview.pages.insert(id.clone(), change);
        }
    }
    let removed_fragments = old_portal
        .fragments
        .keys()
        .filter(|f| !new_portal.fragments.contains_key(*f))
        .cloned();
    let targets = Targets {
        fragments: redefined.into_iter().chain(removed_fragments).collect(),
        pages: preview.pages.keys().cloned().collect(),
        templates: changed_templates.into_iter().collect(),
        ..Targets::default()
    };
    (preview, targets)
}

/// The fragments a page shows, composite fragments' children included.
pub fn shown_fragments(page: &PageDef, portal: &Portal) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<&str> = page.slots().map(|s| s.fragment.as_str()).collect();
    while let Some(id) = todo.pop() {
        if out.insert(id.to_owned()) {
            if let Some(f) = portal.fragments.get(id) {
                todo.extend(children(f));
            }
        }
    }
    out
}

fn children(f: &FragmentDef) -> impl Iterator<Item = &str> {
    f.includes.iter().map(|i| i.fragment.as_str())
}
