//! Who a fragment is produced for, through which channel, with which parameter values.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use serde::Serialize;
use tessera_descriptors::ParamValue;

use crate::cache::{ChannelKey, KeyHasher};

/// The person a page is assembled for, as templates and path templates see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viewer {
    pub id: String,
    pub name: String,
    pub anonymous: bool,
}

impl Viewer {
    pub fn anonymous() -> Self {
        Self {
            id: "anonymous".into(),
            name: "Guest".into(),
            anonymous: true,
        }
    }
}

/// Resolved parameter values by name.
pub type Params = BTreeMap<String, ParamValue>;

/// A user's resolved profile: the hierarchical name-value view (`theme.color`,
/// `fragment.news.topics`), layers already merged (user, segment, portal defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Shared: a profile is copied into every request of its user.
    values: Arc<BTreeMap<String, String>>,
    hash: u64,
}

impl Profile {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        let mut h = KeyHasher::default();
        for (k, v) in &values {
            h.bytes(k.as_bytes()).bytes(v.as_bytes());
        }
        Self {
            hash: h.finish(),
            values: Arc::new(values),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// Equal profiles hash equal: entries that read the profile are shared by all users
    /// whose profiles are equal (a segment's users who never customized).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The profile as templates see it: dotted names become nested maps
    /// (`profile.theme.color`).
    pub fn to_value(&self) -> Value {
        let mut root = BTreeMap::new();
        for (name, value) in self.values.iter() {
            let parts: Vec<&str> = name.split('.').collect();
            insert(&mut root, &parts, value);
        }
        Value::from_serialize(&root)
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Tree {
    Leaf(String),
    Branch(BTreeMap<String, Tree>),
}

/// Puts `value` at the dotted path; where `a` and `a.b` are both set, `a.b` wins.
fn insert(node: &mut BTreeMap<String, Tree>, parts: &[&str], value: &str) {
    match parts {
        [] => {}
        [last] => {
            node.entry((*last).to_owned())
                .or_insert_with(|| Tree::Leaf(value.to_owned()));
        }
        [first, rest @ ..] => {
            let entry = node
                .entry((*first).to_owned())
                .or_insert_with(|| Tree::Branch(BTreeMap::new()));
            if let Tree::Leaf(_) = entry {
                *entry = Tree::Branch(BTreeMap::new());
            }
            if let Tree::Branch(child) = entry {
                insert(child, rest, value);
            }
        }
    }
}

/// Everything about the request that a fragment's stages may depend on.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    pub viewer: &'a Viewer,
    pub channel: ChannelKey,
    pub profile: &'a Profile,
    /// The request's ids, passed to backends (`None`: no ids are sent).
    pub trace: Option<&'a crate::trace::RequestTrace>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_become_nested_maps() {
        let p = Profile::new(BTreeMap::from([
            ("theme.color".to_owned(), "#123".to_owned()),
            ("theme.logo".to_owned(), "gold.svg".to_owned()),
            ("home.layout".to_owned(), "wide".to_owned()),
        ]));
        let v = p.to_value();
        let color = v
            .get_attr("theme")
            .and_then(|t| t.get_attr("color"))
            .map(|c| c.to_string());
        assert_eq!(color.ok(), Some("#123".to_owned()));
        assert_eq!(p.hash(), Profile::new(p.values().clone()).hash());
        assert_ne!(p.hash(), Profile::default().hash());
    }
}
