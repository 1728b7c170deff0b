//! The running descriptor set and how it changes (hot registration).
//!
//! The set is a collection of documents (descriptors and templates, see [`docs`]): the
//! files in the config and templates folders with the *overlay* laid over them — what
//! was registered, replaced or removed through the admin API — kept in the store. Every
//! change (an API call, an edited file, a rollback) goes the same way:
//! 1. the resulting set is built and validated as a whole ([`tessera_descriptors::build`]);
//!    an invalid one is refused with every problem, and nothing changes;
//! 2. the change is committed to the store as the next version (the whole set as a
//!    snapshot, the new overlay) — a version committed meanwhile by another node makes it
//!    a conflict;
//! 3. a new [`Engine`] is swapped in atomically: requests that started keep the version
//!    they took ([`Registry::current`]), new ones get the new one; service access keeps
//!    the breakers, statistics and toggles of unchanged services, and the fragment cache
//!    is shared — entries of changed fragments, pages and templates are invalidated
//!    through the dependency graph (their keys carry definition fingerprints and template
//!    versions, so an old entry is never served for a new definition either way).
//!
//! Layout: `docs` — documents, the folders' base, snapshots; `impact` — what a change
//! changes; `watch` — the folder watcher.

pub mod docs;
pub mod impact;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde::Serialize;
use tessera_descriptors::{Portal, Settings};
use tessera_engine::Engine;
use tessera_fragments::cache::Mode;
use tessera_fragments::FragmentState;
use tessera_store::{
    AuditEntry, DescriptorVersion, NewDescriptorVersion, OverlayDoc, Store, StoreError,
};
use tokio::sync::{broadcast, Mutex};
use tokio_util::sync::CancellationToken;

use docs::{Base, Doc, DocKey, DocKind, Docs, Snapshot};
pub use impact::{PageChange, Preview};

/// One edit of the set.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Adds or replaces a document.
    Put { key: DocKey, text: String },
    /// Removes a document.
    Delete { key: DocKey },
}

/// Who changes the set, from where, and why (for the version list and the audit log).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: String,
    /// The client's address, when the change came over the network.
    pub address: Option<String>,
    pub reason: String,
}

/// Why a change was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The resulting set is invalid: every problem, `file:line:column: message`.
    #[error("the change leaves the descriptor set invalid")]
    Invalid(Vec<String>),
    /// The request itself is wrong (an id that does not match the URL, a bad name).
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    NotFound(String),
    /// Another node committed a version first; this node has caught up, try again.
    #[error("{0}")]
    Conflict(String),
    /// This node serves a fixed set (no descriptor folders behind it).
    #[error("this node serves a fixed descriptor set: changes are not possible")]
    Fixed,
    #[error("cannot save the change: {0}")]
    Store(StoreError),
}

/// What a change did (or, for a dry run, would do).
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The set's version after the change (for a dry run or no-op: the current one).
    pub version: i64,
    pub applied: bool,
    /// True when the change leaves the set as it is.
    pub unchanged: bool,
    #[serde(flatten)]
    pub preview: Preview,
}

/// Problems of the watched folders that keep their latest edits out of the running set.
#[derive(Debug, Clone, Serialize)]
pub struct FileProblems {
    #[serde(with = "unix_ms")]
    pub since: SystemTime,
    pub problems: Vec<String>,
}

/// Holds the current portal version. Requests take an `Arc` of it once and keep it, so
/// a swap never changes the set under a request that is already running.
pub struct Registry {
    current: ArcSwap<Engine>,
    settings: Arc<Settings>,
    /// The node's metrics: every portal version's engine carries this one on
    /// (`engine_for`), so reading it needs no version.
    metrics: Arc<tessera_engine::Metrics>,
    node: Option<Node>,
    file_problems: RwLock<Option<FileProblems>>,
    commits: broadcast::Sender<i64>,
}

/// What a registry that can change needs.
struct Node {
    state: Mutex<SetState>,
    store: Arc<dyn Store>,
    dirs: Option<(PathBuf, PathBuf)>,
    fragments: FragmentState,
    cancel: CancellationToken,
}

struct SetState {
    version: i64,
    base: Base,
    docs: Docs,
}

impl Registry {
    /// A registry serving `engine`, which cannot change.
    pub fn fixed(engine: Engine) -> Self {
        Self {
            settings: Arc::new(engine.portal().settings.clone()),
            metrics: engine.metrics().clone(),
            current: ArcSwap::from_pointee(engine),
            node: None,
            file_problems: RwLock::default(),
            commits: broadcast::channel(16).0,
        }
    }

    /// Starts a node's registry over `base` (the folders as read) and the overlay saved in
    /// the store. `engine_of` builds the first portal version (service access, toggles).
    /// When the saved overlay no longer fits the folders (a file it depends on was
    /// removed, say), the node starts with the newest saved version instead, and the
    /// problems are kept for the console; only when neither builds does it fail.
    pub async fn start(
        base: Base,
        dirs: Option<(PathBuf, PathBuf)>,
        store: Arc<dyn Store>,
        cancel: CancellationToken,
        engine_of: impl FnOnce(Portal, FragmentState) -> Engine,
    ) -> Result<Registry, StartFailure> {
        let saved = store.registered_descriptors().await?;
        let overlay = decode_overlay(&saved.overlay);
        let mut docs = base.with_overlay(&overlay);
        let mut problems = None;
        let portal = match tessera_descriptors::build(&base.sources(&docs)) {
            Ok(p) => p,
            Err(d) if saved.version > 0 => {
                tracing::error!(problems = %d, "the registered descriptors do not fit the folders; starting with the newest saved version");
                problems = Some(d.0.iter().map(ToString::to_string).collect::<Vec<_>>());
                let snapshot = store
                    .descriptor_snapshot(saved.version)
                    .await?
                    .ok_or_else(|| StartFailure::Invalid(d.to_string()))?;
                let snapshot: Snapshot = serde_json::from_str(&snapshot).map_err(|e| {
                    StartFailure::Invalid(format!("version {} cannot be read: {e}", saved.version))
                })?;
                docs = snapshot.docs(&base);
                tessera_descriptors::build(&base.sources(&docs))
                    .map_err(|d2| StartFailure::Invalid(format!("{d}\n{d2}")))?
            }
            Err(d) => return Err(StartFailure::Invalid(d.to_string())),
        };
        let fragments = FragmentState::new(portal.settings.cache.max_bytes);
        let settings = Arc::new(portal.settings.clone());
        let engine = engine_of(portal, fragments.clone());
        let registry = Registry {
            metrics: engine.metrics().clone(),
            current: ArcSwap::from_pointee(engine),
            settings,
            node: Some(Node {
                state: Mutex::new(SetState {
                    version: saved.version,
                    base,
                    docs: Docs::default(),
                }),
                store,
                dirs,
                fragments,
                cancel,
            }),
            file_problems: RwLock::new(problems.map(|problems| FileProblems {
                since: SystemTime::now(),
                problems,
            })),
            commits: broadcast::channel(16).0,
        };
        // The first version records the set this node started with, when it differs
        // from the newest saved one (a new node, or folders changed while it was down).
        let node = registry.node.as_ref().expect("just set");
        let mut st = node.state.lock().await;
        let unchanged = match saved.version {
            0 => false,
            v => node
                .store
                .descriptor_snapshot(v)
                .await?
                .and_then(|s| serde_json::from_str::<Snapshot>(&s).ok())
                .is_some_and(|s| s.docs(&st.base) == docs),
        };
        if unchanged {
            st.docs = docs;
        } else {
            let actor = Actor {
                name: "tessera".into(),
                address: None,
                reason: "the set this node started with".into(),
            };
            st.docs = docs.clone();
            match registry
                .commit_version(node, &st, &docs, &actor, "start", "start")
                .await
            {
                Ok(v) => st.version = v,
                // Another node starting at the same time recorded it: fine.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(st);
        Ok(registry)
    }

    /// The portal version new requests are served with.
    pub fn current(&self) -> Arc<Engine> {
        self.current.load_full()
    }

    /// The node's metrics, the same in every version (no engine to load: the request
    /// path reads them on every response).
    pub fn metrics(&self) -> &Arc<tessera_engine::Metrics> {
        &self.metrics
    }

    /// The node's settings, the same in every version.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Versions committed by this node (for the cluster bus to announce).
    pub fn commits(&self) -> broadcast::Receiver<i64> {
        self.commits.subscribe()
    }

    /// The running set's version (0 for a fixed set).
    pub async fn version(&self) -> i64 {
        match &self.node {
            Some(n) => n.state.lock().await.version,
            None => 0,
        }
    }

    /// Problems of the watched folders, while they keep edits out of the running set.
    pub fn file_problems(&self) -> Option<FileProblems> {
        self.file_problems.read().ok().and_then(|p| p.clone())
    }

    /// The running set's documents: kind, name, label, whether registered.
    pub async fn documents(&self) -> Vec<DocInfo> {
        let Some(node) = &self.node else {
            return Vec::new();
        };
        let st = node.state.lock().await;
        st.docs
            .0
            .iter()
            .map(|(k, d)| DocInfo {
                kind: k.kind.as_str(),
                name: k.name.clone(),
                label: d.label.to_string(),
                registered: st.base.files.text(k) != Some(&d.text),
                bytes: d.text.len(),
            })
            .collect()
    }

    /// One document's text.
    pub async fn document(&self, key: &DocKey) -> Option<Arc<str>> {
        let node = self.node.as_ref()?;
        let st = node.state.lock().await;
        st.docs.0.get(key).map(|d| d.text.clone())
    }

    /// Applies edits as one change (or, with `dry_run`, only reports what it would do).
    pub async fn change(
        &self,
        edits: Vec<Edit>,
        actor: &Actor,
        dry_run: bool,
    ) -> Result<Outcome, Refusal> {
        let node = self.node.as_ref().ok_or(Refusal::Fixed)?;
        let mut st = node.state.lock().await;
        let mut next = st.docs.clone();
        for edit in &edits {
            match edit {
                Edit::Put { key, text } => {
                    check_put(key, text, &self.settings)?;
                    let label = match st.base.files.0.get(key) {
                        Some(f) if *f.text == **text => f.label.clone(),
                        _ => key.registered_label(),
                    };
                    next.0.insert(
                        key.clone(),
                        Doc {
                            label,
                            text: text.as_str().into(),
                        },
                    );
                }
                Edit::Delete { key } => {
                    if next.0.remove(key).is_none() {
                        return Err(Refusal::NotFound(format!("there is no {key}")));
                    }
                }
            }
        }
        let summary = summarize(&edits);
        self.apply(node, &mut st, next, actor, "api", &summary, dry_run)
            .await
    }

    /// Restores the set of an earlier version exactly, as a new version.
    pub async fn rollback(
        &self,
        version: i64,
        actor: &Actor,
        dry_run: bool,
    ) -> Result<Outcome, Refusal> {
        let node = self.node.as_ref().ok_or(Refusal::Fixed)?;
        let mut st = node.state.lock().await;
        let snapshot = node
            .store
            .descriptor_snapshot(version)
            .await
            .map_err(Refusal::Store)?
            .ok_or_else(|| Refusal::NotFound(format!("there is no version {version}")))?;
        let snapshot: Snapshot = serde_json::from_str(&snapshot).map_err(|e| {
            Refusal::Store(StoreError::Query(format!(
                "version {version} cannot be read: {e}"
            )))
        })?;
        let next = snapshot.docs(&st.base);
        let summary = format!("rollback to version {version}");
        self.apply(node, &mut st, next, actor, "rollback", &summary, dry_run)
            .await
    }

    /// The versions, newest first.
    pub async fn versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<DescriptorVersion>, Refusal> {
        let node = self.node.as_ref().ok_or(Refusal::Fixed)?;
        node.store
            .descriptor_versions(limit, before)
            .await
            .map_err(Refusal::Store)
    }

    /// Catches up with the store: when another node committed a newer version, rebuilds
    /// the set from the folders and the saved overlay and swaps it in. Returns whether
    /// the set changed. A set that does not build here (this node's folders differ) is
    /// kept out, reported in [`Registry::file_problems`] and the log.
    pub async fn sync_from_store(&self) -> Result<bool, StoreError> {
        let Some(node) = &self.node else {
            return Ok(false);
        };
        let mut st = node.state.lock().await;
        self.sync_locked(node, &mut st).await
    }

    async fn sync_locked(&self, node: &Node, st: &mut SetState) -> Result<bool, StoreError> {
        let saved = node.store.registered_descriptors().await?;
        if saved.version == st.version {
            return Ok(false);
        }
        let next = st.base.with_overlay(&decode_overlay(&saved.overlay));
        if next == st.docs {
            st.version = saved.version;
            return Ok(false);
        }
        match tessera_descriptors::build(&st.base.sources(&next)) {
            Ok(portal) => {
                self.swap(node, st, portal, &next);
                st.docs = next;
                st.version = saved.version;
                tracing::info!(
                    version = saved.version,
                    "descriptor set updated from the store"
                );
                Ok(true)
            }
            Err(d) => {
                tracing::error!(version = saved.version, problems = %d, "the descriptor set saved by another node does not build here; keeping the running one");
                self.set_file_problems(Some(d.0.iter().map(ToString::to_string).collect()));
                Ok(false)
            }
        }
    }

    /// Re-reads the folders and applies what changed in them (the watcher calls this).
    /// Documents whose files did not change keep what the set holds for them (a
    /// registration stays over its file until the file itself changes).
    pub async fn reload_files(&self) -> Result<Option<Outcome>, Refusal> {
        let node = self.node.as_ref().ok_or(Refusal::Fixed)?;
        let Some((config_dir, templates_dir)) = node.dirs.clone() else {
            return Ok(None);
        };
        let mut st = node.state.lock().await;
        let fresh = tokio::task::spawn_blocking(move || Base::read(&config_dir, &templates_dir))
            .await
            .map_err(|e| Refusal::Bad(format!("reading the folders failed: {e}")))?;
        if fresh.settings_text != st.base.settings_text {
            tracing::warn!("tessera.toml changed: settings take effect at the next restart");
        }
        let changed = st.base.files.changed_keys(&fresh.files);
        if changed.is_empty() && fresh.problems.0.is_empty() {
            self.set_file_problems(None);
            return Ok(None);
        }
        let mut next = st.docs.clone();
        for key in &changed {
            match fresh.files.0.get(key) {
                Some(d) => {
                    next.0.insert(key.clone(), d.clone());
                }
                None => {
                    next.0.remove(key);
                }
            }
        }
        let mut base = fresh;
        // Settings need a restart: keep building with the running ones.
        base.settings = st.base.settings.clone();
        base.settings_label = st.base.settings_label.clone();
        base.settings_text = st.base.settings_text.clone();
        let old_base = std::mem::replace(&mut st.base, base);
        let summary = format!(
            "files: {}",
            changed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let actor = Actor {
            name: "files".into(),
            address: None,
            reason: "edited in the watched folders".into(),
        };
        match self
            .apply(node, &mut st, next, &actor, "files", &summary, false)
            .await
        {
            Ok(outcome) => {
                self.set_file_problems(None);
                Ok(Some(outcome))
            }
            Err(refusal) => {
                // The running set stays; so does what the folders looked like when it
                // was built, so that fixing the files is seen as a change again.
                st.base = old_base;
                let problems = match &refusal {
                    Refusal::Invalid(p) => p.clone(),
                    other => vec![other.to_string()],
                };
                // One log line per distinct state of the folders, not per file event.
                let known = self.file_problems().is_some_and(|p| p.problems == problems);
                if !known {
                    tracing::error!(problems = %problems.join("\n"), "the edited files leave the descriptor set invalid; the running set stays until they are fixed");
                }
                self.set_file_problems(Some(problems));
                Err(refusal)
            }
        }
    }

    fn set_file_problems(&self, problems: Option<Vec<String>>) {
        if let Ok(mut p) = self.file_problems.write() {
            *p = problems.map(|problems| FileProblems {
                since: p.as_ref().map_or_else(SystemTime::now, |old| old.since),
                problems,
            });
        }
    }

    /// Validates `next`, and unless `dry_run` commits and swaps it in.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        node: &Node,
        st: &mut SetState,
        next: Docs,
        actor: &Actor,
        origin: &str,
        summary: &str,
        dry_run: bool,
    ) -> Result<Outcome, Refusal> {
        if next == st.docs {
            return Ok(Outcome {
                version: st.version,
                applied: false,
                unchanged: true,
                preview: Preview::default(),
            });
        }
        let portal = tessera_descriptors::build(&st.base.sources(&next))
            .map_err(|d| Refusal::Invalid(d.0.iter().map(ToString::to_string).collect()))?;
        let old = self.current();
        let candidate = self.engine_for(node, portal.clone(), &old, &st.docs, &next);
        let (mut preview, targets) = impact::compare(&old, &portal, &candidate, &st.docs, &next);
        preview.invalidates = old.invalidate(&targets, Mode::Hard, true);
        if dry_run {
            return Ok(Outcome {
                version: st.version,
                applied: false,
                unchanged: false,
                preview,
            });
        }
        let version = match self
            .commit_version(node, st, &next, actor, origin, summary)
            .await
        {
            Ok(v) => v,
            Err(StoreError::Conflict(m)) => {
                // Catch up, so that a retry starts from the newest set.
                if let Err(e) = self.sync_locked(node, st).await {
                    tracing::warn!(error = %e, "cannot catch up with the store");
                }
                return Err(Refusal::Conflict(format!(
                    "{m}; this node now serves version {}: review and try again",
                    st.version
                )));
            }
            Err(e) => return Err(Refusal::Store(e)),
        };
        debug_assert!(Arc::ptr_eq(candidate.metrics(), &self.metrics));
        self.current.store(Arc::new(candidate));
        preview.invalidates = old.invalidate(&targets, Mode::Hard, false);
        st.docs = next;
        st.version = version;
        let _ = self.commits.send(version);
        let entry = AuditEntry {
            at: SystemTime::now(),
            actor: actor.name.clone(),
            action: format!("descriptors.{origin}"),
            target: format!("version {version}"),
            reason: Some(actor.reason.clone()).filter(|r| !r.is_empty()),
            origin: actor.address.clone(),
            detail: Some(serde_json::json!({
                "version": version,
                "summary": summary,
                "added": preview.added,
                "replaced": preview.replaced,
                "removed": preview.removed,
            })),
        };
        if let Err(e) = node.store.append_audit(&entry).await {
            tracing::error!(error = %e, version, "the descriptor change is applied but its audit entry could not be written");
        }
        tracing::info!(version, origin, actor = %actor.name, summary, "descriptor set changed");
        Ok(Outcome {
            version,
            applied: true,
            unchanged: false,
            preview,
        })
    }

    async fn commit_version(
        &self,
        node: &Node,
        st: &SetState,
        next: &Docs,
        actor: &Actor,
        origin: &str,
        summary: &str,
    ) -> Result<i64, StoreError> {
        let snapshot = serde_json::to_string(&Snapshot::of(next))
            .map_err(|e| StoreError::Invalid(format!("cannot encode the snapshot: {e}")))?;
        let change = NewDescriptorVersion {
            at: SystemTime::now(),
            actor: actor.name.clone(),
            origin: origin.into(),
            reason: actor.reason.clone(),
            summary: summary.into(),
            snapshot,
            overlay: encode_overlay(&st.base.overlay(next)),
        };
        node.store.commit_descriptors(st.version, &change).await
    }

    /// Builds the next version's engine over the running one's service access (reusing
    /// unchanged services), fragment state and metrics.
    fn engine_for(
        &self,
        node: &Node,
        portal: Portal,
        old: &Engine,
        before: &Docs,
        after: &Docs,
    ) -> Engine {
        let changed_services: BTreeSet<String> = before
            .changed_keys(after)
            .into_iter()
            .filter(|k| k.kind == DocKind::Service)
            .map(|k| k.name)
            .collect();
        let services = Arc::new(
            old.services()
                .evolve(&portal, &changed_services, &node.cancel),
        );
        Engine::with_state(portal, services, node.fragments.clone())
            .with_metrics(old.metrics().clone())
    }

    /// Swaps in `portal` (built from `next`) and invalidates what changed.
    fn swap(&self, node: &Node, st: &SetState, portal: Portal, next: &Docs) {
        let old = self.current();
        let candidate = self.engine_for(node, portal.clone(), &old, &st.docs, next);
        let (_, targets) = impact::compare(&old, &portal, &candidate, &st.docs, next);
        debug_assert!(Arc::ptr_eq(candidate.metrics(), &self.metrics));
        self.current.store(Arc::new(candidate));
        old.invalidate(&targets, Mode::Hard, false);
    }
}

/// Why a node's registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartFailure {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read the registered descriptors: {0}")]
    Store(#[from] StoreError),
}

/// A document of the running set, as listed.
#[derive(Debug, Serialize)]
pub struct DocInfo {
    pub kind: &'static str,
    pub name: String,
    pub label: String,
    /// Registered through the admin API (not, or not as, in the folders).
    pub registered: bool,
    pub bytes: usize,
}

/// Checks what a `PUT` brings before the set is built: a name fit for a URL and a file,
/// a size within the limits, and — for descriptors — a root element whose `id` is the
/// one in the URL.
fn check_put(key: &DocKey, text: &str, settings: &Settings) -> Result<(), Refusal> {
    check_name(key)?;
    let (cap, setting) = match key.kind {
        DocKind::Template => (settings.limits.max_template_bytes, "max-template-bytes"),
        _ => (settings.limits.max_descriptor_bytes, "max-descriptor-bytes"),
    };
    if text.len() > cap {
        return Err(Refusal::Bad(format!(
            "the document has {} bytes, more than the {cap}-byte limit (limits.{setting} in tessera.toml)",
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(Refusal::Bad("the document contains a NUL character".into()));
    }
    let Some(kind) = key.kind.descriptor() else {
        return Ok(());
    };
    let limits = tessera_descriptors::xml::XmlLimits {
        max_depth: settings.limits.max_xml_depth,
        ..Default::default()
    };
    // A document that does not parse is reported by the build with its position.
    if let Ok(root) = tessera_descriptors::xml::parse(&key.registered_label(), text, limits) {
        if root.name == kind.element() {
            match root.attr("id") {
                Some(id) if id.value != key.name => {
                    return Err(Refusal::Bad(format!(
                        "{}: the {} declares id \"{}\" but the URL names \"{}\"",
                        id.location,
                        kind.element(),
                        id.value,
                        key.name
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Descriptor ids and template names: 1–200 characters of letters, digits, `._-`, and
/// for templates `/` between segments that do not start with a dot.
fn check_name(key: &DocKey) -> Result<(), Refusal> {
    let name = &key.name;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let valid = !name.is_empty()
        && name.len() <= 200
        && match key.kind {
            DocKind::Template => name
                .split('/')
                .all(|seg| !seg.is_empty() && !seg.starts_with('.') && seg.chars().all(ok_char)),
            _ => name.chars().all(ok_char) && !name.starts_with('.'),
        };
    if valid {
        Ok(())
    } else {
        Err(Refusal::Bad(format!(
            "\"{name}\" is not a valid {} name: use 1–200 letters, digits, '.', '_' or '-'{}",
            key.kind.as_str(),
            if key.kind == DocKind::Template {
                ", with '/' between folders"
            } else {
                ""
            }
        )))
    }
}

fn summarize(edits: &[Edit]) -> String {
    edits
        .iter()
        .map(|e| match e {
            Edit::Put { key, .. } => format!("put {key}"),
            Edit::Delete { key } => format!("delete {key}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn encode_overlay(overlay: &BTreeMap<DocKey, Option<Doc>>) -> Vec<OverlayDoc> {
    overlay
        .iter()
        .map(|(k, d)| OverlayDoc {
            kind: k.kind.as_str().into(),
            name: k.name.clone(),
            body: d.as_ref().map(|d| d.text.to_string()),
        })
        .collect()
}

fn decode_overlay(saved: &[OverlayDoc]) -> BTreeMap<DocKey, Option<Doc>> {
    saved
        .iter()
        .filter_map(|d| {
            let Some(kind) = DocKind::parse(&d.kind) else {
                tracing::warn!(kind = %d.kind, name = %d.name, "the store holds a registered document of an unknown kind; ignored");
                return None;
            };
            let key = DocKey::new(kind, d.name.clone());
            let doc = d.body.as_ref().map(|b| Doc {
                label: key.registered_label(),
                text: b.as_str().into(),
            });
            Some((key, doc))
        })
        .collect()
}

mod unix_ms {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        s.serialize_u64(ms)
    }
}
