//! The object dependency graph (ODG).
//!
//! Nodes are objects (`news`, `news:42`), fragments, pages, users, templates and cached
//! entries (by version); an edge points from what a thing depends on to what depends on
//! it. Invalidating a node walks the edges and yields exactly the entries reachable from
//! it — time proportional to what is affected, not to the size of the cache. Entries
//! leave the graph when they leave the cache, and a non-entry node leaves with its last
//! edge, so the graph never outgrows the cache.
//!
//! Every node keeps its edges in two hash sets (what it depends on, what depends on it),
//! so adding or removing one edge costs the same whatever the other end's degree. That
//! matters because some nodes have very many: a page node, its layout's template node
//! and every shared fragment's rendered entry point to every user's cached page (100,000
//! of them in the memory benchmark). A graph that keeps edges in linked lists (petgraph's)
//! walks such a list to find an edge, which made inserting and evicting pages quadratic
//! in the number of users (ADR 0005).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::key::StageKey;

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Object(Arc<str>),
    Fragment(Arc<str>),
    Page(Arc<str>),
    User(Arc<str>),
    Template(Arc<str>),
    /// A cached entry, by version.
    Entry(u64),
}

/// What a new entry depends on.
#[derive(Debug, Clone, Default)]
pub struct Deps {
    /// Entries (by version) it was derived from.
    pub entries: Vec<u64>,
    pub objects: Vec<Arc<str>>,
    pub fragment: Option<Arc<str>>,
    pub page: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub templates: Vec<Arc<str>>,
}

/// A node's slot: the node and its edges in both directions.
#[derive(Debug)]
struct Slot {
    node: Node,
    /// What depends on it (edges out).
    dependents: HashSet<Id>,
    /// What it depends on (edges in).
    depends_on: HashSet<Id>,
}

impl Slot {
    fn is_isolated(&self) -> bool {
        self.dependents.is_empty() && self.depends_on.is_empty()
    }
}

/// A slot's index. Freed indices are reused, so the slots never outgrow the largest the
/// graph has been.
type Id = u32;

#[derive(Debug, Default)]
pub struct Graph {
    slots: Vec<Option<Slot>>,
    free: Vec<Id>,
    index: HashMap<Node, Id>,
    /// The key each entry node is cached under.
    keys: HashMap<u64, StageKey>,
}

impl Graph {
    fn slot(&self, i: Id) -> Option<&Slot> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, i: Id) -> Option<&mut Slot> {
        self.slots.get_mut(i as usize).and_then(Option::as_mut)
    }

    fn node(&mut self, n: Node) -> Id {
        if let Some(i) = self.index.get(&n) {
            return *i;
        }
        let slot = Slot {
            node: n.clone(),
            dependents: HashSet::new(),
            depends_on: HashSet::new(),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                Id::try_from(self.slots.len() - 1).unwrap_or(Id::MAX)
            }
        };
        self.index.insert(n, i);
        i
    }

    fn edge(&mut self, from: Id, to: Id) {
        if let Some(s) = self.slot_mut(from) {
            s.dependents.insert(to);
        }
        if let Some(s) = self.slot_mut(to) {
            s.depends_on.insert(from);
        }
    }

    /// Takes a node out with its edges; returns it.
    fn remove(&mut self, i: Id) -> Option<Node> {
        let slot = self.slots.get_mut(i as usize)?.take()?;
        for d in &slot.depends_on {
            if let Some(s) = self.slot_mut(*d) {
                s.dependents.remove(&i);
            }
        }
        for d in &slot.dependents {
            if let Some(s) = self.slot_mut(*d) {
                s.depends_on.remove(&i);
            }
        }
        self.index.remove(&slot.node);
        self.free.push(i);
        Some(slot.node)
    }

    /// Adds an entry with its dependencies. Returns false (and adds nothing) when one of
    /// the entries it derives from has already left the graph: the new entry would
    /// outlive what it depends on, so the caller must not cache it.
    pub fn add_entry(&mut self, version: u64, key: StageKey, deps: &Deps) -> bool {
        if deps
            .entries
            .iter()
            .any(|v| !self.index.contains_key(&Node::Entry(*v)))
        {
            return false;
        }
        let me = self.node(Node::Entry(version));
        self.keys.insert(version, key);
        let mut from: Vec<Node> = deps.entries.iter().map(|v| Node::Entry(*v)).collect();
        from.extend(deps.objects.iter().cloned().map(Node::Object));
        from.extend(deps.fragment.iter().cloned().map(Node::Fragment));
        from.extend(deps.page.iter().cloned().map(Node::Page));
        from.extend(deps.user.iter().cloned().map(Node::User));
        from.extend(deps.templates.iter().cloned().map(Node::Template));
        for n in from {
            let i = self.node(n);
            self.edge(i, me);
        }
        true
    }

    /// Adds object keys to an existing entry (keys learnt after it was stored).
    pub fn add_objects(&mut self, version: u64, objects: &[Arc<str>]) {
        let Some(&me) = self.index.get(&Node::Entry(version)) else {
            return;
        };
        for o in objects {
            let i = self.node(Node::Object(o.clone()));
            self.edge(i, me);
        }
    }

    /// Every entry reachable from `starts` (entries among the starts included), with
    /// their keys. Breadth-first over the affected part of the graph only.
    pub fn reachable(&self, starts: &[Node]) -> Vec<(u64, StageKey)> {
        let mut seen: HashSet<Id> = HashSet::new();
        let mut queue: VecDeque<Id> = starts
            .iter()
            .filter_map(|n| self.index.get(n).copied())
            .collect();
        let mut out = Vec::new();
        while let Some(i) = queue.pop_front() {
            if !seen.insert(i) {
                continue;
            }
            let Some(slot) = self.slot(i) else { continue };
            if let Node::Entry(v) = &slot.node {
                if let Some(k) = self.keys.get(v) {
                    out.push((*v, k.clone()));
                }
            }
            queue.extend(slot.dependents.iter().copied());
        }
        out
    }

    /// Removes entries and everything that depends on them; returns the versions and
    /// keys removed (the dependents are for the caller to drop from the cache). Non-entry
    /// nodes left without edges go too.
    pub fn remove_entries(&mut self, versions: &[u64]) -> Vec<(u64, StageKey)> {
        let starts: Vec<Node> = versions.iter().map(|v| Node::Entry(*v)).collect();
        let gone = self.reachable(&starts);
        let mut orphans_maybe: HashSet<Id> = HashSet::new();
        for (v, _) in &gone {
            let Some(&i) = self.index.get(&Node::Entry(*v)) else {
                continue;
            };
            if let Some(slot) = self.slot(i) {
                orphans_maybe.extend(slot.depends_on.iter().copied());
            }
            self.remove(i);
            self.keys.remove(v);
        }
        for i in orphans_maybe {
            let orphan = self
                .slot(i)
                .is_some_and(|s| !matches!(s.node, Node::Entry(_)) && s.is_isolated());
            if orphan {
                self.remove(i);
            }
        }
        gone
    }

    pub fn contains_entry(&self, version: u64) -> bool {
        self.index.contains_key(&Node::Entry(version))
    }

    pub fn node_count(&self) -> usize {
        self.index.len()
    }

    pub fn entry_count(&self) -> usize {
        self.keys.len()
    }

    /// Nodes that are neither entries nor connected to one (should always be zero).
    pub fn dangling_count(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|s| !matches!(s.node, Node::Entry(_)) && s.is_isolated())
            .count()
    }

    /// Per fragment, the object keys its cached entries depend on now (declared by
    /// `<depends-on>` or sent by the backend). Looks only at the entries an object points
    /// to directly and their fragment — a source entry's through its fragment node —
    /// so the cost follows the objects' edges, not the whole graph.
    pub fn objects_by_fragment(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (node, &i) in &self.index {
            let Node::Object(object) = node else {
                continue;
            };
            let Some(slot) = self.slot(i) else { continue };
            for &entry in &slot.dependents {
                let Some(entry_slot) = self.slot(entry) else {
                    continue;
                };
                let Node::Entry(v) = &entry_slot.node else {
                    continue;
                };
                let mut fragments: Vec<&str> = self
                    .keys
                    .get(v)
                    .and_then(StageKey::fragment)
                    .into_iter()
                    .collect();
                fragments.extend(entry_slot.depends_on.iter().filter_map(|n| {
                    match self.slot(*n).map(|s| &s.node) {
                        Some(Node::Fragment(f)) => Some(&**f),
                        _ => None,
                    }
                }));
                for f in fragments {
                    out.entry(f.to_owned())
                        .or_default()
                        .insert(object.to_string());
                }
            }
        }
        out
    }

    /// The entry versions currently in the graph.
    pub fn versions(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str) -> StageKey {
        StageKey::Source {
            service: "news".into(),
            path: path.into(),
            user: None,
        }
    }

    #[test]
    fn objects_are_attributed_to_the_fragments_whose_entries_depend_on_them() {
        let mut g = Graph::default();
        // A source of fragment `headlines` with two object keys, and its model.
        assert!(g.add_entry(
            1,
            source("/h"),
            &Deps {
                objects: vec!["news".into(), "news:42".into()],
                fragment: Some("headlines".into()),
                ..Deps::default()
            },
        ));
        assert!(g.add_entry(
            2,
            StageKey::Model {
                fragment: "headlines".into(),
                definition: 1,
                source_version: 1,
            },
            &Deps {
                entries: vec![1],
                fragment: Some("headlines".into()),
                ..Deps::default()
            },
        ));
        // A fragment without a backend: its rendered entry depends on the object itself.
        assert!(g.add_entry(
            3,
            StageKey::Rendered {
                fragment: "banner".into(),
                definition: 1,
                source_version: 0,
                template_version: 1,
                channel: super::super::key::ChannelKey::Html,
                params: 0,
                children: 0,
                profile: 0,
                user: None,
            },
            &Deps {
                objects: vec!["promo".into()],
                fragment: Some("banner".into()),
                ..Deps::default()
            },
        ));
        // Keys learnt later (a backend's object-key header) count too.
        g.add_objects(1, &["news:7".into()]);
        let seen = g.objects_by_fragment();
        let names = |f: &str| -> Vec<&str> { seen[f].iter().map(String::as_str).collect() };
        assert_eq!(names("headlines"), ["news", "news:42", "news:7"]);
        assert_eq!(names("banner"), ["promo"]);
        assert_eq!(seen.len(), 2);
        // Once the entries leave, so do their objects.
        g.remove_entries(&[1, 3]);
        assert!(g.objects_by_fragment().is_empty());
    }
}
