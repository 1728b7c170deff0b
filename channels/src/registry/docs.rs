//! The descriptor set as documents: every descriptor and template by kind and name, as
//! read from the folders or registered through the admin API. A set of documents is what
//! is validated, versioned, snapshotted and rolled back; a [`Portal`] is built from it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_descriptors::xml::{self, XmlLimits};
use tessera_descriptors::{Diagnostics, Kind, Settings, SourceFile, Sources, Templates};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Service,
    Fragment,
    Page,
    Lifecycle,
    Template,
}

impl DocKind {
    /// The kind as written in URLs, messages and the store (`fragment`); the plural
    /// (`fragments`) is accepted too.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "service" | "services" => Self::Service,
            "fragment" | "fragments" => Self::Fragment,
            "page" | "pages" => Self::Page,
            "lifecycle" | "lifecycles" => Self::Lifecycle,
            "template" | "templates" => Self::Template,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Fragment => "fragment",
            Self::Page => "page",
            Self::Lifecycle => "lifecycle",
            Self::Template => "template",
        }
    }

    /// The descriptor kind; `None` for templates.
    pub fn descriptor(self) -> Option<Kind> {
        match self {
            Self::Service => Some(Kind::Service),
            Self::Fragment => Some(Kind::Fragment),
            Self::Page => Some(Kind::Page),
            Self::Lifecycle => Some(Kind::Lifecycle),
            Self::Template => None,
        }
    }

    fn of(kind: Kind) -> Self {
        match kind {
            Kind::Service => Self::Service,
            Kind::Fragment => Self::Fragment,
            Kind::Page => Self::Page,
            Kind::Lifecycle => Self::Lifecycle,
        }
    }
}

/// A document's identity: its kind and its descriptor id (or template name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocKey {
    pub kind: DocKind,
    pub name: String,
}

impl DocKey {
    pub fn new(kind: DocKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }

    /// How messages name a document registered through the admin API.
    pub fn registered_label(&self) -> Arc<str> {
        match self.kind.descriptor() {
            Some(k) => format!("registered/{}/{}.xml", k.folder(), self.name).into(),
            None => format!("registered/templates/{}", self.name).into(),
        }
    }
}

impl std::fmt::Display for DocKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// One document's text and where it came from (for messages).
#[derive(Debug, Clone)]
pub struct Doc {
    pub label: Arc<str>,
    pub text: Arc<str>,
}

/// A whole set of documents. Two sets are equal when their texts are.
#[derive(Debug, Clone, Default)]
pub struct Docs(pub BTreeMap<DocKey, Doc>);

impl PartialEq for Docs {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((ka, a), (kb, b))| ka == kb && a.text == b.text)
    }
}

impl Docs {
    pub fn text(&self, key: &DocKey) -> Option<&str> {
        self.0.get(key).map(|d| &*d.text)
    }

    /// Keys whose text differs between the two sets (added, removed or changed).
    pub fn changed_keys(&self, other: &Docs) -> BTreeSet<DocKey> {
        let keys: BTreeSet<&DocKey> = self.0.keys().chain(other.0.keys()).collect();
        keys.into_iter()
            .filter(|k| self.text(k) != other.text(k))
            .cloned()
            .collect()
    }
}

/// The folders' part of a set: the settings and what reading them found.
#[derive(Debug, Clone, Default)]
pub struct Base {
    pub settings_label: Arc<str>,
    pub settings: Settings,
    /// Problems found while reading: the set cannot be built until they are fixed.
    pub problems: Diagnostics,
    pub unreadable: BTreeSet<(Kind, String)>,
    /// The documents in the folders.
    pub files: Docs,
    /// The text of `tessera.toml`, to notice that it changed (it needs a restart).
    pub settings_text: Option<String>,
}

impl Base {
    /// Reads the folders (never fails: problems are kept in [`Base::problems`]).
    pub fn read(config_dir: &Path, templates_dir: &Path) -> Base {
        let sources = Sources::read(config_dir, templates_dir);
        Base::from_sources(
            sources,
            std::fs::read_to_string(config_dir.join("tessera.toml")).ok(),
        )
    }

    /// The base of already read sources: descriptor files are keyed by the id their root
    /// element declares (by file name when it cannot be read).
    pub fn from_sources(sources: Sources, settings_text: Option<String>) -> Base {
        let limits = XmlLimits {
            max_depth: sources.settings.limits.max_xml_depth,
            ..XmlLimits::default()
        };
        let mut files = BTreeMap::new();
        for f in sources.files {
            let name = xml::parse(&f.label, &f.text, limits)
                .ok()
                .and_then(|root| root.attr("id").map(|a| a.value.clone()))
                .unwrap_or_else(|| stem(&f.label));
            let mut key = DocKey::new(DocKind::of(f.kind), name);
            // Two files declaring one id: keep both, so that building reports the duplicate.
            while files.contains_key(&key) {
                key.name.push_str("#duplicate");
            }
            files.insert(
                key,
                Doc {
                    label: f.label,
                    text: f.text.into(),
                },
            );
        }
        for (name, t) in sources.templates.iter() {
            files.insert(
                DocKey::new(DocKind::Template, name.clone()),
                Doc {
                    label: t.label.clone(),
                    text: t.source.clone(),
                },
            );
        }
        Base {
            settings_label: sources.settings_label,
            settings: sources.settings,
            problems: sources.problems,
            unreadable: sources.unreadable,
            files: Docs(files),
            settings_text,
        }
    }

    /// The sources of `docs` built over this base's settings.
    pub fn sources(&self, docs: &Docs) -> Sources {
        let mut templates = Templates::default();
        let mut files = Vec::new();
        for (key, doc) in &docs.0 {
            match key.kind.descriptor() {
                Some(kind) => files.push(SourceFile {
                    kind,
                    label: doc.label.clone(),
                    text: doc.text.to_string(),
                }),
                None => templates.insert(key.name.clone(), doc.label.clone(), doc.text.clone()),
            }
        }
        Sources {
            settings_label: self.settings_label.clone(),
            settings: self.settings.clone(),
            files,
            templates,
            problems: self.problems.clone(),
            unreadable: self.unreadable.clone(),
        }
    }

    /// What `docs` holds that the folders do not: registered documents, and removed
    /// files as `None`.
    pub fn overlay(&self, docs: &Docs) -> BTreeMap<DocKey, Option<Doc>> {
        self.files
            .changed_keys(docs)
            .into_iter()
            .map(|k| {
                let doc = docs.0.get(&k).cloned();
                (k, doc)
            })
            .collect()
    }

    /// The folders' documents with `overlay` laid over them.
    pub fn with_overlay(&self, overlay: &BTreeMap<DocKey, Option<Doc>>) -> Docs {
        let mut docs = self.files.clone();
        for (key, doc) in overlay {
            match doc {
                Some(d) => {
                    docs.0.insert(key.clone(), d.clone());
                }
                None => {
                    docs.0.remove(key);
                }
            }
        }
        docs
    }
}

fn stem(label: &str) -> String {
    let name = label.rsplit(['/', '\\']).next().unwrap_or(label);
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_owned()
}

/// A version's snapshot: the whole set, as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub documents: Vec<SnapshotDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotDoc {
    pub kind: DocKind,
    pub name: String,
    pub body: String,
}

impl Snapshot {
    pub fn of(docs: &Docs) -> Snapshot {
        Snapshot {
            documents: docs
                .0
                .iter()
                .map(|(k, d)| SnapshotDoc {
                    kind: k.kind,
                    name: k.name.clone(),
                    body: d.text.to_string(),
                })
                .collect(),
        }
    }

    /// The documents; those equal to a file keep the file's label.
    pub fn docs(self, base: &Base) -> Docs {
        Docs(
            self.documents
                .into_iter()
                .map(|d| {
                    let key = DocKey::new(d.kind, d.name);
                    let label = match base.files.0.get(&key) {
                        Some(f) if *f.text == *d.body => f.label.clone(),
                        _ => key.registered_label(),
                    };
                    (
                        key,
                        Doc {
                            label,
                            text: d.body.into(),
                        },
                    )
                })
                .collect(),
        )
    }
}
